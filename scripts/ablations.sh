#!/usr/bin/env bash
# Issue 4's ablations, one thread each, results in results/ablation_*.json. Every run is greedy and
# grammar-constrained; with 0 in-context examples a run is deterministic, so one run is the 3-run mean.
#
#   scripts/ablations.sh quant ADAPTER TAG      # F16 / Q8_0 / Q4_K_M / Q4_0 merges of one adapter, 3 test sets
#   scripts/ablations.sh prompt STEPS           # CoNLL04-only LoRA runs from the embedded base, same budget:
#                                               # natural vs code prompts, natural with and without rationale
#   scripts/ablations.sh icl MODEL TAG          # 0 / 3 / 6 in-context examples from train, CoNLL04 test
set -euo pipefail
cd "$(dirname "$0")/.."
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
        --no-progress --out "results/ablation_quant_${tag}_${q}_${d}.json"
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
      --threads "$THREADS" --no-progress --out "results/ablation_prompt_conll04_${v}_s${steps}.json"
  done ;;
icl)
  model=$2 tag=$3
  for k in ${ICLS:-0 3 6}; do
    kgc-lite eval --dataset conll04 --split test --model "$model" --prompt-style natural --icl "$k" \
      --runs "$([ "$k" = 0 ] && echo 1 || echo "${ICL_RUNS:-3}")" --threads "$THREADS" --no-progress \
      --out "results/ablation_icl_${tag}_conll04_icl$k.json"
  done ;;
*) sed -n 2,9p "$0"; exit 2 ;;
esac
