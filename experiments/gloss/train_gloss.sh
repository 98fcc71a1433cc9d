#!/usr/bin/env bash
# Issue 14, stop 22: can the entail judge read what a relation means, not only its name? gloss1 is the shipped
# entail model trained 200 more steps of 16 statements on its own data mix, with half the FewRel questions' option
# statements followed by their relation's description ("the competition class of X is Y (competition class:
# official classification by a regulating body ...)", schema.Relation.glossed). 18 min on the project's 2-core CPU.
# Then the development gate, chosen before the run: two stages on runs/dev10 (scripts/zero_rte_dev.py; held-out
# development relations), glossed statements, no threshold, must reach 21.8 (the shipped judge: 20.8) before any
# test relation is looked at. Stage 1's pairs come from the reader1 cache (experiments/reader-judge/eval_reader.sh dev).
#
#   RUNS=/work/runs THREADS=2 experiments/gloss/train_gloss.sh
set -euo pipefail
RUNS=${RUNS:-runs}
THREADS=${THREADS:-2}
cd "$(dirname "$0")/../.."
if [ ! -e "$RUNS/gloss1/adapter_model.safetensors" ]; then
  kgc-lite train --task qa4re --answer entail -d semeval,fewrel,conll04,scierc \
    --mix semeval=4,fewrel=3,conll04=1,scierc=1 --gloss 0.5 --init-adapter adapters/smollm2-135m-qa4re-entail \
    --rank 16 --alpha 32 --lr 2e-4 --warmup 10 --steps 200 --batch 16 --micro-batch 8 --save-every 50 \
    --threads "$THREADS" --seed 7 -o "$RUNS/gloss1"
fi
[ -e "$RUNS/gloss1.gguf" ] || kgc-lite convert "$RUNS/gloss1" --out "$RUNS/gloss1.gguf" -t "$THREADS"
for variant in gloss1 gloss1-plain; do
  cache="runs/stage1_$variant"
  mkdir -p "$cache"
  for f in runs/stage1_reader1/finder.jsonl runs/stage1_reader1/reader_*.jsonl; do
    [ -e "$cache/$(basename "$f")" ] || cp "$f" "$cache/"
  done
  python experiments/two-stage/stage1_candidates.py --gold runs/dev10/gold.jsonl --schema runs/dev10/schema.json \
    $([ "$variant" = gloss1 ] && echo --gloss) --reader "$RUNS/reader1.gguf" --fill --qa-model "$RUNS/gloss1.gguf" \
    --threads "$THREADS" --cache "$cache" --out "experiments/gloss/results/stage1_candidates_dev200_$variant.json"
done
