#!/usr/bin/env bash
# The two-stage extraction results of issue 14 (`extract --two-stage`), written to experiments/two-stage/results/ (the dev200 file and the railways files, which shipped numbers cite, to results/):
#   1. dev: FewRel sentences of fewrel/unseen_10_seed_0's dev relations (held out of all training, like its test
#      relations), 200 sentences; the precision/recall curve over --min-confidence (P(yes)) chooses the threshold;
#   2. FewRel held-out test relations, unseen_5_seed_0 and unseen_10_seed_0, 600-sentence seeded samples (the
#      same sentences as the one-pass results), at threshold 0 and at the dev-chosen one;
#   3. the custom-schema set examples/railways.
#
#   experiments/two-stage/eval_two_stage.sh [PAIR_MODEL]      # default: the registry's pair finder
# THREADS (default 2); MIN (default: the dev-chosen threshold, read from step 1's curve).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-2}
pair=${1:-}
pair_args=(); [ -n "$pair" ] && pair_args=(--pair-model "$pair")
mkdir -p runs
run() { echo "+ $*" >&2; "$@"; }

run python3 scripts/zero_rte_dev.py --split unseen_10_seed_0 --sample 200 --out runs/dev10
run kgc-lite eval --gold runs/dev10/gold.jsonl --schema runs/dev10/schema.json --two-stage "${pair_args[@]}" \
    -t "$threads" --save-predictions runs/two_stage_dev10.jsonl -o results/two_stage_fewrel_unseen_10_seed_0_dev200.json
run python3 experiments/confidence/confidence_curve.py --gold runs/dev10/gold.jsonl runs/two_stage_dev10.jsonl \
    --out experiments/two-stage/results/two_stage_fewrel_unseen_10_seed_0_dev200_curve.json
# the grid step (0, 0.05, 0.1, 0.2, ..., 0.95) with the best dev F1, not the exact best item's score
min=${MIN:-$(python3 -c "import json; c = json.load(open('experiments/two-stage/results/two_stage_fewrel_unseen_10_seed_0_dev200_curve.json'))['curve']; print(max(c, key=lambda r: r['f1'])['threshold'])")}
echo "threshold chosen on dev: $min" >&2

for split in unseen_5_seed_0 unseen_10_seed_0; do
    run kgc-lite eval -d fewrel --split "$split" --sample 600 --two-stage "${pair_args[@]}" -t "$threads" \
        --save-predictions "runs/two_stage_$split.jsonl" -o "experiments/two-stage/results/two_stage_fewrel_${split}_sample600.json"
    run kgc-lite eval -d fewrel --split "$split" --sample 600 -p "runs/two_stage_$split.jsonl" --min-confidence "$min" \
        -o "experiments/two-stage/results/two_stage_fewrel_${split}_sample600_min${min}.json"
done
run kgc-lite eval --gold examples/railways/railways.jsonl --schema examples/railways/railways.toml --two-stage \
    "${pair_args[@]}" -t "$threads" --save-predictions runs/two_stage_railways.jsonl -o results/two_stage_railways.json
run kgc-lite eval --gold examples/railways/railways.jsonl --schema examples/railways/railways.toml \
    -p runs/two_stage_railways.jsonl --min-confidence "$min" -o "results/two_stage_railways_min${min}.json"
