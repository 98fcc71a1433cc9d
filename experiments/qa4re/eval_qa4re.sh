#!/usr/bin/env bash
# The QA4RE results of issue 11 for one model, written to results/ (each command is also runnable alone):
# (the letter model's files, and the entail model's that no shipped number cites, are in experiments/qa4re/results/)
#   - SemEval-2010 Task 8 test, a seeded sample (seed 0): the schema's option order and shuffled options, the same
#     pairs (the position-free bar compares the two);
#   - FewRel's held-out relations as multiple choice (unseen_5_seed_0 and unseen_10_seed_0, 600-pair seeded
#     samples; the relations of unseen_10_seed_0's test and dev were left out of training);
#   - a relation set of this project's own (examples/railways: 5 relations, statements from their descriptions),
#     every gold pair as multiple choice.
#
#   experiments/qa4re/eval_qa4re.sh [MODEL] [SAMPLE]     # defaults: smollm2-135m-qa4re-entail, 600
# THREADS (default 2) sets the threads; with K set (e.g. K=4), also the shuffled sample with --permutations K;
# SEMEVAL=0 skips SemEval.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-smollm2-135m-qa4re-entail}
sample=${2:-600}
threads=${THREADS:-2}
tag=${model##*/}; tag=${tag%.gguf}
run() { echo "+ $*" >&2; "$@"; }

if [ "${SEMEVAL:-1}" != 0 ]; then
run kgc-lite eval -d semeval --sample "$sample" -m "$model" -t "$threads" --shuffle \
    -o "results/qa4re_semeval_${tag}_shuffled_sample${sample}.json"
run kgc-lite eval -d semeval --sample "$sample" -m "$model" -t "$threads" --no-shuffle \
    -o "results/qa4re_semeval_${tag}_schema-order_sample${sample}.json"
fi
if [ -n "${K:-}" ]; then
    run kgc-lite eval -d semeval --sample "$sample" -m "$model" -t "$threads" --shuffle -k "$K" \
        -o "results/qa4re_semeval_${tag}_shuffled_k${K}_sample${sample}.json"
fi
for split in unseen_5_seed_0 unseen_10_seed_0; do
    run kgc-lite eval -d fewrel --split "$split" --qa4re --sample 600 -m "$model" -t "$threads" \
        -o "results/qa4re_fewrel_${split}_${tag}_sample600.json"
done
run kgc-lite eval --qa4re --gold examples/railways/railways.jsonl --schema examples/railways/railways.toml \
    -m "$model" -t "$threads" -o "results/qa4re_railways_${tag}.json"
