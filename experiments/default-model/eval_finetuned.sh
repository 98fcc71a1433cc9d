#!/usr/bin/env bash
# The fine-tuned default (smollm2-135m-kg: LoRA adapters/smollm2-135m-kg merged into the embedded SmolLM2-135M,
# Q8_0) and, for the same prompt settings, the untuned base: natural prompts, 0 in-context examples (what the
# adapter was trained with). Data sets run in parallel, one thread each. Writes experiments/default-model/results/*.json.
#   THREADS=1 MODELS="smollm2-135m-kg smollm2-135m" experiments/default-model/eval_finetuned.sh [dataset ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-1}
ICL=${ICL:-0}
STYLE=${STYLE:-natural}
MODELS=${MODELS:-smollm2-135m-kg smollm2-135m}
PRED_DIR=${PRED_DIR:-/tmp/kgc-lite-predictions}   # predictions hold the test sentences: keep them out of the repo
kgc-lite models path smollm2-135m-kg >/dev/null    # builds the merged model once, before the parallel runs
for model in $MODELS; do
  case $model in smollm2-135m) tag="untuned-$model" ;; *) tag="ft-$model" ;; esac
  for d in ${@:-ade conll04 scierc}; do
    kgc-lite eval --dataset "$d" --split test --model "$model" --prompt-style "$STYLE" --icl "$ICL" --runs 1 \
      --threads "$THREADS" --no-progress \
      --save-predictions "$PRED_DIR/${tag}_${d}_test_${STYLE}_icl${ICL}.jsonl" \
      --out "experiments/default-model/results/eval_${tag}_${d}_test_${STYLE}_icl${ICL}_runs1.json" &
  done
  wait
done
