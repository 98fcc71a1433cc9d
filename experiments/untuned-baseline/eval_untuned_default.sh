#!/usr/bin/env bash
# The untuned embedded default (SmolLM2-135M-Instruct Q4_1) on the three test sets, code and natural prompts,
# 3 in-context examples drawn from train: the baseline that fine-tuning must beat. Writes experiments/untuned-baseline/results/*.json.
#   RUNS=3 THREADS=1 STYLES="code natural" experiments/untuned-baseline/eval_untuned_default.sh [dataset ...]
# Needs the benchmark data: --data-dir / $KGC_LITE_DATA, default ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-1}
THREADS=${THREADS:-1}
STYLES=${STYLES:-code natural}
PRED_DIR=${PRED_DIR:-/tmp/kgc-lite-predictions}   # predictions hold the test sentences: keep them out of the repo
for ds in "${@:-ade conll04 scierc}"; do
  for style in $STYLES; do
    for d in $ds; do
      kgc-lite eval --dataset "$d" --split test --prompt-style "$style" --icl 3 --runs "$RUNS" \
        --threads "$THREADS" --no-progress \
        --save-predictions "$PRED_DIR/untuned-smollm2-135m_${d}_test_${style}_icl3.jsonl" \
        --out "experiments/untuned-baseline/results/eval_untuned-smollm2-135m_${d}_test_${style}_icl3_runs${RUNS}.json"
    done
  done
done
