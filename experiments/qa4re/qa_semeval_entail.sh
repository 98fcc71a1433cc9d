#!/usr/bin/env bash
# Issue 11's supervised SemEval model that reads its options: the entail judge (yes/no per option statement, so
# the answer cannot depend on the option order) trained further on SemEval train alone, from the shipped
# entail adapter (which had seen about 1,100 SemEval questions among FewRel, CoNLL04 and SciERC ones).
#
#   nohup experiments/qa4re/qa_semeval_entail.sh train > runs/qa-entail-sem.log 2>&1 &   # 1,000 steps of 16, 68 min on 2 cores (stop 33)
#   experiments/qa4re/qa_semeval_entail.sh sample      # SemEval test, the 600-pair seeded sample (the ship rule's number)
#   experiments/qa4re/qa_semeval_entail.sh full        # all 2,717 test pairs (about 54 min at 0.84 pairs/s), resumable
#
# The run ends in runs/qa-entail-sem (adapter + run card). Stop 33 shipped it as smollm2-135m-qa4re-semeval:
#   python scripts/ship_adapter.py smollm2-135m-qa4re-semeval runs/qa-entail-sem
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/qa-entail-sem}
THREADS=${THREADS:-2}
model() {  # the shipped name once shipped, else the run's own GGUF
  if grep -q "^\[models.smollm2-135m-qa4re-semeval\]" models.toml; then echo smollm2-135m-qa4re-semeval
  else [ -f "$RUN.gguf" ] || kgc-lite convert "$RUN" --type Q8_0 --out "$RUN.gguf" >&2; echo "$RUN.gguf"; fi
}

case "${1:-}" in
train)
  exec kgc-lite train --task qa4re --answer entail --data semeval \
    --init-adapter adapters/smollm2-135m-qa4re-entail --steps 1000 --batch 16 --micro-batch 8 --rank 16 --alpha 32 \
    --lr 5e-4 --warmup 20 --save-every 50 --seed 1 --threads "$THREADS" --out "$RUN" ;;
sample)
  m=$(model); tag=$(basename "${m%.gguf}")
  kgc-lite eval -d semeval --sample 600 --shuffle --answer entail -m "$m" -t "$THREADS" \
    -o "results/qa4re_semeval_${tag}_shuffled_sample600.json" ;;
full)
  m=$(model); tag=$(basename "${m%.gguf}")
  mkdir -p results/predictions  # a line per pair as it is answered; --resume continues a stopped run
  kgc-lite eval -d semeval --shuffle --answer entail -m "$m" -t "$THREADS" --resume \
    --save-predictions "results/predictions/semeval_test_full_${tag}.jsonl" \
    -o "results/qa4re_semeval_supervised_${tag}.json" ;;
*) sed -n 2,11p "$0"; exit 2 ;;
esac
