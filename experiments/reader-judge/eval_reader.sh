#!/usr/bin/env bash
# Issue 14: a one-relation reader (train --min-relations 1 --max-relations 1 --p-empty 0.5) as a third way to
# read a new schema, measured on development relations first, then on the held-out test relations.
#
#   READER=/work/runs/reader1.gguf TAG=reader1 THREADS=2 experiments/reader-judge/eval_reader.sh dev    # choose on dev
#   READER=/work/runs/reader1.gguf TAG=reader1 THREADS=2 experiments/reader-judge/eval_reader.sh test   # then report test
#   JUDGE=/work/runs/judge1.gguf ... TAG=judge1 ...                                    # another entail judge
#
# dev: experiments/two-stage/stage1_candidates.py on the 200 development sentences (runs/dev10, from scripts/zero_rte_dev.py):
#      how often the reader's fill (it may not answer []) is the gold pair, and two-stage F1 with those fills
#      added to the pair finder's pairs, judged as `extract --two-stage` judges (union) or on the filled
#      relation's own statement (own). Cached passes (runs/stage1_TAG) are reused.
# test: the same seeded 600 test sentences as the two-stage rows of the README, unseen_5 and unseen_10, and
#      the railways set.
set -euo pipefail
READER=${READER:?path of the reader GGUF}
TAG=${TAG:?short name for the files}
THREADS=${THREADS:-2}
JUDGE_ARGS=()
[ -z "${JUDGE:-}" ] || JUDGE_ARGS=(--qa-model "$JUDGE")
cd "$(dirname "$0")/../.."
case "${1:-dev}" in
dev)
  mkdir -p "runs/stage1_$TAG"
  python experiments/two-stage/stage1_candidates.py --gold runs/dev10/gold.jsonl --schema runs/dev10/schema.json \
    --reader "$READER" --fill "${JUDGE_ARGS[@]}" --threads "$THREADS" --cache "runs/stage1_$TAG" \
    --out "experiments/reader-judge/results/stage1_candidates_dev200_$TAG.json"
  ;;
test)
  for split in unseen_5_seed_0 unseen_10_seed_0; do
    kgc-lite eval -d fewrel --split "$split" --sample 600 --two-stage --reader-model "$READER" "${JUDGE_ARGS[@]}" \
      -t "$THREADS" --no-progress -o "experiments/reader-judge/results/two_stage_fewrel_${split}_${TAG}.json"
  done
  kgc-lite eval --schema examples/railways/railways.toml --gold examples/railways/railways.jsonl --two-stage \
    --reader-model "$READER" "${JUDGE_ARGS[@]}" -t "$THREADS" --no-progress -o "experiments/reader-judge/results/two_stage_railways_${TAG}.json"
  ;;
*) echo "usage: $0 dev|test" >&2; exit 2 ;;
esac
