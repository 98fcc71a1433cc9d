#!/usr/bin/env bash
# Issue 14's many-schema training on the CPU, in resumable stages across sessions (the same data and
# augmentation as scripts/gpu_session.sh step 5, at CPU sizes), and its zero-shot score at each stage.
#
#   nohup experiments/many-schema/ms_cpu.sh train >> runs/ms-cpu.log 2>&1 &  # starts, or resumes from runs/ms-cpu/checkpoint
#   kill -TERM <the kgc-lite train pid>                       # stops after the current step, with a checkpoint
#   experiments/many-schema/ms_cpu.sh eval                                    # the checkpoint's step, scored (not beside training)
#
# Training: from the shipped extractor's adapter, ADE + CoNLL04 + SciERC, FewRel and Wiki-ZSL drawn equally
# often, each prompt with its own schema (shuffled relations among distractors, other names, empty answers,
# ordinary-punctuation copies); FewRel's unseen_10_seed_0 test and dev relations held out of every example by
# Wikidata id. 1,200 steps of 8 (about 22 s a step on 2 cores, so 7 to 8 hours: several sessions); the
# learning rate decays over all 1,200, so every session resumes the one run rather than starting another.
#
# The checkpoint lives only on the machine that wrote it (runs/ is not in git): stop 33's new machine started
# without stop 32's step-605 checkpoint, so the run starts over there unless runs/ms-cpu is carried over.
#
# Eval (the development relations only, never the test ones): the checkpoint is merged to runs/ms-cpu-sSTEP.gguf
# and scored one pass (the prompt it trains) on 200 sentences of the dev relations (runs/dev10, made here by
# scripts/zero_rte_dev.py, the set stop 19's ablation used), and on CoNLL04 val (is in-schema skill kept?).
# Results: experiments/many-schema/results/ms-cpu_sSTEP_{fewrel_dev10,conll04_val}.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/ms-cpu}
THREADS=${THREADS:-2}

case "${1:-}" in
train)
  resume=()
  [ -f "$RUN/checkpoint/state.pt" ] && resume=(--resume)
  . scripts/ms_recipe.sh
  exec kgc-lite train "${MS_RECIPE[@]}" --steps 1200 --batch 8 --micro-batch 2 --warmup 20 \
    --lr 3e-4 --save-every 20 --seed 0 --init-adapter adapters/smollm2-135m-kg \
    --threads "$THREADS" "${resume[@]}" -o "$RUN" ;;
eval)
  [ -f "$RUN/checkpoint/state.pt" ] || { echo "no checkpoint in $RUN" >&2; exit 1; }
  step=$(python3 -c "import torch,sys; print(torch.load(sys.argv[1], weights_only=False)['step'])" \
    "$RUN/checkpoint/state.pt")
  snap="$RUN-s$step"
  mkdir -p "$snap"
  cp "$RUN/checkpoint/adapter_config.json" "$RUN/checkpoint/adapter_model.safetensors" "$snap/"
  [ -f "$snap.gguf" ] || kgc-lite convert "$snap" --base smollm2-135m --type Q8_0 --out "$snap.gguf"
  [ -f runs/dev10/gold.jsonl ] || python3 scripts/zero_rte_dev.py --split unseen_10_seed_0 --sample 200 --out runs/dev10
  common=(--model "$snap.gguf" --one-pass --prompt-style natural --icl 0 --threads "$THREADS" --no-progress)
  kgc-lite eval --gold runs/dev10/gold.jsonl --schema runs/dev10/schema.json "${common[@]}" \
    --out "experiments/many-schema/results/ms-cpu_s${step}_fewrel_dev10.json"
  kgc-lite eval --dataset conll04 --split val "${common[@]}" --out "experiments/many-schema/results/ms-cpu_s${step}_conll04_val.json" ;;
*) sed -n 2,19p "$0"; exit 2 ;;
esac
