#!/usr/bin/env bash
# Issue 11's "one model or two": can the extractor and the entail QA4RE model be one adapter? Two runs from the
# shipped extractor's adapter (smollm2-135m-kg), the same seed, lr and batch:
#   entail  --task qa4re --answer entail on the shipped entail model's data and mix, ENTAIL_STEPS steps;
#   both    --task both: the same questions plus the extractor's triplets (ade, conll04, scierc; weights
#           1:1:2 as its last stage), mixed so that the questions get about ENTAIL_STEPS of the BOTH_STEPS steps.
# Then, in experiments/one-model/results/: SemEval test (seeded sample, shuffled options) and FewRel's held-out relations as multiple
# choice for both models, and the three triplet test sets for `both` (to hold against the shipped extractor).
#
#   experiments/one-model/one_model_or_two.sh            # THREADS (default 2), RUNS (default runs), SAMPLE (default 300)
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-2}
RUNS=${RUNS:-runs}
sample=${SAMPLE:-300}
entail_steps=${ENTAIL_STEPS:-150}
both_steps=${BOTH_STEPS:-215}
mkdir -p "$RUNS"
run() { echo "+ $*" >&2; "$@"; }
common=(--init-adapter adapters/smollm2-135m-kg --answer entail --rank 16 --alpha 32 --lr 5e-4 --warmup 10
        --batch 16 --micro-batch 4 --max-length 1024 --icl 0 --save-every 25 --seed 0 --threads "$threads")
qa_mix="semeval=4,fewrel=3,conll04=1,scierc=1"

[ -f "$RUNS/mt-entail/run_card.json" ] || run kgc-lite train --task qa4re -d semeval,fewrel,conll04,scierc \
    --mix "$qa_mix" --steps "$entail_steps" "${common[@]}" -o "$RUNS/mt-entail" 2>"$RUNS/mt-entail.log"
# triplets 4 parts of 13: about 0.69 x 215 = 148 question steps, 67 triplet steps
[ -f "$RUNS/mt-both/run_card.json" ] || run kgc-lite train --task both -d ade,conll04,scierc \
    --qa-data semeval,fewrel,conll04,scierc --mix "ade=1,conll04=1,scierc=2,qa:${qa_mix//,/,qa:}" \
    --steps "$both_steps" "${common[@]}" -o "$RUNS/mt-both" 2>"$RUNS/mt-both.log"

for v in entail both; do
    gguf="$RUNS/mt-$v.gguf"
    [ -f "$gguf" ] || run kgc-lite convert "$RUNS/mt-$v" --type Q8_0 --out "$gguf"
    run kgc-lite eval -d semeval --sample "$sample" --shuffle -m "$gguf" --answer entail -t "$threads" \
        --no-progress -o "experiments/one-model/results/one_model_${v}_semeval_shuffled_sample$sample.json"
    run kgc-lite eval -d fewrel --split unseen_5_seed_0 --qa4re --sample 600 -m "$gguf" --answer entail \
        -t "$threads" --no-progress -o "experiments/one-model/results/one_model_${v}_qa4re_fewrel_unseen_5_seed_0_sample600.json"
done
for d in conll04 ade scierc; do
    run kgc-lite eval -d "$d" --split test -m "$RUNS/mt-both.gguf" --one-pass --prompt-style natural --icl 0 \
        -t "$threads" --no-progress -o "experiments/one-model/results/one_model_both_${d}_test.json"
done
