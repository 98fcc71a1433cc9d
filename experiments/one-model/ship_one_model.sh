#!/usr/bin/env bash
# Issue 11's shipping run for "one model": experiments/one-model/one_model_or_two.sh's `--task both` recipe at full budget
# (860 steps of 16: about 600 question steps, the shipped entail model's count, and 260 triplet steps), then every
# test the two shipped models it would replace have results for, on the same items, in experiments/one-model/results/one_model_both860_*:
#   extraction   CoNLL04, ADE, SciERC test and CoNLL04 test in ordinary punctuation (against smollm2-135m-kg);
#   QA4RE        SemEval 300 shuffled pairs, FewRel unseen_5_seed_0 as multiple choice (against the entail model);
#   two stages   FewRel unseen_5_seed_0 (600 sentences) and railways with this model as the judge.
# The shipping rule, fixed before the run: every extraction F1 within 1 point of the shipped extractor's, and
# SemEval and FewRel multiple choice within 2 of the shipped entail model's.
#
#   experiments/one-model/ship_one_model.sh          # THREADS (default 2), RUNS (default runs); training resumes if stopped
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-2}
RUNS=${RUNS:-runs}
out="$RUNS/both860"
mkdir -p "$RUNS"
run() { echo "+ $*" >&2; "$@"; }
qa_mix="semeval=4,fewrel=3,conll04=1,scierc=1"

if [ ! -f "$out/run_card.json" ]; then
    resume=(); [ -d "$out/checkpoint" ] && resume=(--resume)
    run kgc-lite train --task both -d ade,conll04,scierc --qa-data semeval,fewrel,conll04,scierc \
        --mix "ade=1,conll04=1,scierc=2,qa:${qa_mix//,/,qa:}" --steps 860 \
        --init-adapter adapters/smollm2-135m-kg --answer entail --rank 16 --alpha 32 --lr 5e-4 --warmup 10 \
        --batch 16 --micro-batch 4 --max-length 1024 --icl 0 --save-every 25 --seed 0 --threads "$threads" \
        -o "$out" "${resume[@]}" 2>>"$RUNS/both860.log"
fi
gguf="$RUNS/both860.gguf"
[ -f "$gguf" ] || run kgc-lite convert "$out" --type Q8_0 --out "$gguf"
name=one_model_both860
common=(-m "$gguf" -t "$threads" --no-progress)

for d in conll04 ade scierc; do
    run kgc-lite eval -d "$d" --split test --one-pass --prompt-style natural --icl 0 "${common[@]}" \
        -o "experiments/one-model/results/${name}_${d}_test.json"
done
run kgc-lite eval -d conll04 --split test --detok --retokenize --one-pass --prompt-style natural --icl 0 \
    "${common[@]}" -o "experiments/one-model/results/${name}_conll04-detok_test.json"
run kgc-lite eval -d semeval --sample 300 --shuffle --answer entail "${common[@]}" \
    -o "experiments/one-model/results/${name}_semeval_shuffled_sample300.json"
run kgc-lite eval -d fewrel --split unseen_5_seed_0 --qa4re --sample 600 --answer entail "${common[@]}" \
    -o "experiments/one-model/results/${name}_qa4re_fewrel_unseen_5_seed_0_sample600.json"
run kgc-lite eval -d fewrel --split unseen_5_seed_0 --sample 600 --two-stage --qa-model "$gguf" -t "$threads" \
    --no-progress -o "experiments/one-model/results/${name}_two_stage_fewrel_unseen_5_seed_0_sample600.json"
run kgc-lite eval --gold examples/railways/railways.jsonl --schema examples/railways/railways.toml --two-stage \
    --qa-model "$gguf" -t "$threads" --no-progress -o "experiments/one-model/results/${name}_two_stage_railways.json"
