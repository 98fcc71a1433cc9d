#!/usr/bin/env bash
# Issue 4's ablations, one thread each, results in experiments/prompt-ablations/results/ablation_*.json. Every run is greedy and
# grammar-constrained; with 0 in-context examples a run is deterministic, so one run is the 3-run mean.
#
#   experiments/prompt-ablations/ablations.sh quant ADAPTER TAG      # F16 / Q8_0 / Q4_K_M / Q4_0 merges of one adapter, 3 test sets
#   experiments/prompt-ablations/ablations.sh prompt STEPS           # CoNLL04-only LoRA runs from the embedded base, same budget:
#                                               # natural vs code prompts, natural with and without rationale
#   experiments/prompt-ablations/ablations.sh icl MODEL TAG          # 0 / 3 / 6 in-context examples from train, CoNLL04 test
#   experiments/prompt-ablations/ablations.sh schema-aug STEPS       # issue 14: many-schema training (fewrel,kgc) from the shipped
#                                               # extractor, relation shuffling + distractors on vs off, the two
#                                               # runs side by side; one pass on held-out FewRel relations (dev and
#                                               # unseen_5 test), the railways set and CoNLL04 test
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-1}
RUNS=${RUNS:-runs}
mkdir -p "$RUNS"
case ${1:-} in
quant)
  adapter=$2 tag=$3
  for q in ${QUANTS:-F16 Q8_0 Q4_K_M Q4_0}; do
    gguf="$RUNS/$tag-$q.gguf"
    [ -f "$gguf" ] || kgc-lite convert "$adapter" --base smollm2-135m --type "$q" --out "$gguf"
    for d in ${DATASETS:-conll04 ade scierc}; do
      kgc-lite eval --dataset "$d" --split test --model "$gguf" --prompt-style natural --icl 0 --threads "$THREADS" \
        --no-progress --out "experiments/prompt-ablations/results/ablation_quant_${tag}_${q}_${d}.json"
    done
  done ;;
prompt)
  steps=${2:-60}
  for v in natural code natural-rationale; do
    style=${v%%-*}; rat=--no-rationale; [ "$v" = natural-rationale ] && rat=--rationale
    out="$RUNS/ablation-$v-s$steps"
    [ -f "$out/run_card.json" ] || kgc-lite train --base smollm2-135m --data conll04 --prompt-style "$style" "$rat" \
      --icl 0 --rank 16 --alpha 32 --lr 1e-3 --warmup 4 --steps "$steps" --batch 8 --micro-batch 8 \
      --max-length 768 --save-every 1000 --threads "$THREADS" --out "$out" 2>"$out.log"
    [ -f "$out-Q8_0.gguf" ] || kgc-lite convert "$out" --base smollm2-135m --type Q8_0 --out "$out-Q8_0.gguf"
    kgc-lite eval --dataset conll04 --split test --model "$out-Q8_0.gguf" --prompt-style "$style" "$rat" --icl 0 \
      --threads "$THREADS" --no-progress --out "experiments/prompt-ablations/results/ablation_prompt_conll04_${v}_s${steps}.json"
  done ;;
icl)
  model=$2 tag=$3
  for k in ${ICLS:-0 3 6}; do
    kgc-lite eval --dataset conll04 --split test --model "$model" --prompt-style natural --icl "$k" \
      --runs "$([ "$k" = 0 ] && echo 1 || echo "${ICL_RUNS:-3}")" --threads "$THREADS" --no-progress \
      --out "experiments/prompt-ablations/results/ablation_icl_${tag}_conll04_icl$k.json"
  done ;;
schema-aug)
  steps=${2:-100}
  [ -f "$RUNS/dev10/gold.jsonl" ] || python3 scripts/zero_rte_dev.py --split unseen_10_seed_0 --sample 200 --out "$RUNS/dev10"
  for v in aug noaug; do
    out="$RUNS/schema-$v-s$steps" flags=()
    [ "$v" = noaug ] && flags=(--no-shuffle-relations --no-distractors)
    [ -f "$out/run_card.json" ] || kgc-lite train --init-adapter adapters/smollm2-135m-kg --data fewrel,kgc \
      "${flags[@]}" --rank 16 --alpha 32 --lr 5e-4 --warmup 10 --steps "$steps" --batch 8 --micro-batch 2 \
      --save-every 25 --seed 0 --threads "$THREADS" --out "$out" 2>"$out.log" &
  done
  wait
  for v in aug noaug; do
    out="$RUNS/schema-$v-s$steps" tag="schema-$v-s$steps"
    [ -f "$out.gguf" ] || kgc-lite convert "$out" --type Q8_0 --out "$out.gguf"
    common=(--model "$out.gguf" --one-pass --prompt-style natural --icl 0 --threads "$THREADS" --no-progress)
    kgc-lite eval --gold "$RUNS/dev10/gold.jsonl" --schema "$RUNS/dev10/schema.json" "${common[@]}" \
      --out "experiments/many-schema/results/ablation_${tag}_fewrel_dev10.json"
    kgc-lite eval --dataset fewrel --split unseen_5_seed_0 --sample 600 "${common[@]}" \
      --out "experiments/many-schema/results/ablation_${tag}_fewrel_unseen_5_seed_0_sample600.json"
    kgc-lite eval --gold examples/railways/railways.jsonl --schema examples/railways/railways.toml "${common[@]}" \
      --out "experiments/many-schema/results/ablation_${tag}_railways.json"
    kgc-lite eval --dataset conll04 --split test "${common[@]}" --out "experiments/many-schema/results/ablation_${tag}_conll04.json"
  done ;;
*) sed -n 2,13p "$0"; exit 2 ;;
esac
