#!/usr/bin/env bash
# Issue 14's "full fine-tuning vs LoRA at equal budget" on the CPU: both from the embedded base, the same data,
# seed, sample order, steps and schedule; LoRA r 16 / alpha 32 at lr 1e-3 (the default's stage-1 recipe), full
# fine-tuning at lr 1e-4. Each is converted to Q8_0 and scored on the three val sets (no test split).
#
#   experiments/full-vs-lora/full_vs_lora.sh train lora|full   # runs/fvl-lora, runs/fvl-full (resumes from a checkpoint)
#   experiments/full-vs-lora/full_vs_lora.sh eval lora|full    # experiments/full-vs-lora/results/fvl-{lora,full}_{conll04,ade,scierc}_val.json
#   python3 scripts/bootstrap_f1.py --dataset conll04 --split val runs/fvl-full_conll04_val.jsonl \
#       runs/fvl-lora_conll04_val.jsonl      # paired bootstrap of the difference, per val set
#
# STEPS (default 150) and THREADS (2) from the environment. Peak memory: `/usr/bin/time -v` around `train`.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-150}
THREADS=${THREADS:-2}
kind=${2:-}
case "$kind" in
lora) method=(--rank 16 --alpha 32 --lr 1e-3) ;;
full) method=(--full --lr 1e-4) ;;
*) sed -n 2,11p "$0"; exit 2 ;;
esac
run=runs/fvl-$kind
case "${1:-}" in
train)
  resume=()
  [ -f "$run/checkpoint/state.pt" ] && resume=(--resume)
  exec kgc-lite train --base smollm2-135m --data ade,conll04,scierc --prompt-style natural --icl 0 \
    "${method[@]}" --warmup 10 --steps "$STEPS" --batch 8 --micro-batch 8 --max-length 512 --seed 0 \
    --mix size --save-every 25 --threads "$THREADS" "${resume[@]}" -o "$run" ;;
eval)
  [ -f "$run/run_card.json" ] || { echo "$run has not finished training" >&2; exit 1; }
  [ -f "$run.gguf" ] || kgc-lite convert "$run" --base smollm2-135m --type Q8_0 --out "$run.gguf"
  for d in conll04 ade scierc; do
    kgc-lite eval --dataset "$d" --split val --model "$run.gguf" --prompt-style natural --icl 0 \
      --threads "$THREADS" --no-progress --out "experiments/full-vs-lora/results/fvl-${kind}_${d}_val.json" \
      --save-predictions "runs/fvl-${kind}_${d}_val.jsonl" | tail -3
  done ;;
*) sed -n 2,11p "$0"; exit 2 ;;
esac
