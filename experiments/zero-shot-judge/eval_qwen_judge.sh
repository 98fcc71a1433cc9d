#!/usr/bin/env bash
# Stop 23: an untuned Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, hub only) as the entail judge, zero-shot.
# Needs the model once: `kgc-lite models pull qwen2.5-coder-1.5b-instruct` (1.1 GB, checked against models.toml's
# sha256). Each step writes one results file; about 0.25 SemEval pairs/s on 2 threads of this project's CPU.
#
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh semeval   # issue 11: zero-shot QA4RE, 600 seeded SemEval test pairs
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh semeval-prior  # the same, answering relative to the model's prior for
#                                                  # each statement, estimated over 200 unlabeled train pairs
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh semeval-shots  # semeval-prior after 4 written yes/no demonstrations
#                                                  # (--entail-examples 4; stop 25)
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh semeval-qfirst  # semeval-shots with --entail-layout question-first
#                                                  # (stop 26; not the default: it scored lower)
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh semeval-seed1   # a second test sample (400 pairs, seed 1), the
#                                                  # default layout, stop 25's saved train prior (stop 26)
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh bench-layouts   # speed of the two layouts, same run, 20 pairs
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh semeval-prior-settled  # stop 25's train prior (the same 200 train
#                                                  # pairs) estimated again with stop 27's order-free evaluation
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh semeval-full    # all 2,717 test pairs (5-6 h), resumable: stop it
#                                                  # any time and run it again to go on (stop 27); then
#                                                  # `experiments/zero-shot-judge/eval_qwen_judge.sh semeval-full-score` scores the
#                                                  # pairs answered so far (experiments/zero-shot-judge/pool_semeval.py)
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh bench-batch   # --entail-batch vs one call per statement, this model
#                                                  # and the 135M judge (stop 28; about 8 min)
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh dev       # issue 14: two stages on the 800 development sentences
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh fewrel    # issue 11: held-out FewRel relations as multiple choice
#   THREADS=2 experiments/zero-shot-judge/eval_qwen_judge.sh test      # issue 14: two stages on the held-out test relations
#
# Stops 23-24 asked without demonstrations; since stop 25 the model's default is 4 (models.toml entail_examples),
# so the targets that reproduce those files say --entail-examples 0.
# dev needs runs/dev800 (scripts/zero_rte_dev.py --split unseen_10_seed_0 --sample 800 --out runs/dev800).
set -euo pipefail
Q=${MODEL:-qwen2.5-coder-1.5b-instruct}
TAG=${TAG:-qwen2.5-coder-1.5b}
THREADS=${THREADS:-2}
cd "$(dirname "$0")/../.."
FULL=experiments/zero-shot-judge/results/predictions/semeval_test_full_${TAG}_shots4.jsonl
case "${1:?semeval, semeval-prior, semeval-shots, semeval-qfirst, semeval-seed1, semeval-prior-settled, semeval-full, semeval-full-score, bench-layouts, bench-batch, dev, fewrel or test}" in
semeval)
  kgc-lite eval -d semeval --sample 600 --shuffle -m "$Q" --answer entail --entail-examples 0 -t "$THREADS" \
    -o "experiments/zero-shot-judge/results/qa4re_semeval_zeroshot_${TAG}_entail_sample600.json" ;;
semeval-prior)
  kgc-lite eval -d semeval --sample 600 --shuffle -m "$Q" --answer entail --entail-examples 0 --prior-pairs 200 \
    -t "$THREADS" \
    --save-predictions "runs/semeval_test600_${TAG}_prior200.jsonl" \
    -o "experiments/zero-shot-judge/results/qa4re_semeval_zeroshot_${TAG}_entail_prior200_sample600.json" ;;
semeval-shots)
  kgc-lite eval -d semeval --sample 600 --shuffle -m "$Q" --answer entail --entail-examples 4 --prior-pairs 200 \
    -t "$THREADS" --save-predictions "runs/semeval_test600_${TAG}_shots4_prior200.jsonl" \
    -o "experiments/zero-shot-judge/results/qa4re_semeval_zeroshot_${TAG}_entail_shots4_prior200_sample600.json" ;;
semeval-qfirst)
  kgc-lite eval -d semeval --sample 600 --shuffle -m "$Q" --answer entail --entail-examples 4 \
    --entail-layout question-first --prior-pairs 200 -t "$THREADS" \
    --save-predictions "runs/semeval_test600_${TAG}_shots4_qfirst_prior200.jsonl" \
    -o "experiments/zero-shot-judge/results/qa4re_semeval_zeroshot_${TAG}_entail_shots4_qfirst_prior200_sample600.json" ;;
semeval-seed1)
  kgc-lite eval -d semeval --sample 400 --seed 1 --shuffle -m "$Q" --answer entail --entail-examples 4 \
    --entail-layout statement-first --prior "experiments/zero-shot-judge/results/priors/${TAG}_semeval_train200_shots4.json" -t "$THREADS" \
    --save-predictions "runs/semeval_test400_seed1_${TAG}_shots4_trainprior.jsonl" \
    -o "experiments/zero-shot-judge/results/qa4re_semeval_zeroshot_${TAG}_entail_shots4_trainprior_sample400_seed1.json" ;;
semeval-prior-settled)
  out="experiments/zero-shot-judge/results/priors/${TAG}_semeval_train200_shots4_settled.run.json"  # the run that estimated it (and scored 1 test pair)
  kgc-lite eval -d semeval --sample 1 --shuffle -m "$Q" --answer entail --entail-examples 4 --prior-pairs 200 \
    -t "$THREADS" -o "$out"
  python3 -c 'import json, sys; from kgc_lite.qa4re.prior import save
p = json.load(open(sys.argv[1]))["runs"][0]["metrics"]["prior"]
save({k: v for k, v in p.items() if k not in ("split", "seed", "labels_read")}, sys.argv[2])' \
    "$out" "experiments/zero-shot-judge/results/priors/${TAG}_semeval_train200_shots4_settled.json" ;;
semeval-full)
  mkdir -p experiments/zero-shot-judge/results/predictions
  kgc-lite eval -d semeval --shuffle -m "$Q" --answer entail --entail-examples 4 --entail-layout statement-first \
    --prior "experiments/zero-shot-judge/results/priors/${TAG}_semeval_train200_shots4.json" -t "$THREADS" --save-predictions "$FULL" \
    --resume -o "experiments/zero-shot-judge/results/qa4re_semeval_zeroshot_${TAG}_entail_shots4_trainprior_full.json" ;;
semeval-full-score)
  python3 experiments/zero-shot-judge/pool_semeval.py "$FULL" --prior "experiments/zero-shot-judge/results/priors/${TAG}_semeval_train200_shots4.json" \
    --prior "experiments/zero-shot-judge/results/priors/${TAG}_semeval_train200_shots4_settled.json" \
    --out "experiments/zero-shot-judge/results/qa4re_semeval_zeroshot_${TAG}_entail_shots4_trainprior_full_so_far.json" ;;
bench-layouts)
  python3 experiments/zero-shot-judge/bench_entail_layouts.py -m "$Q" --entail-examples 4 --n 20 --threads "$THREADS" \
    --out "experiments/speed/results/qa4re_bench_entail_layouts_${TAG}.json" ;;
bench-batch)
  python3 experiments/zero-shot-judge/bench_entail_layouts.py --compare batch -m "$Q" --n 16 --block 4 --threads "$THREADS" \
    --out "experiments/speed/results/qa4re_bench_entail_batch_${TAG}.json"
  python3 experiments/zero-shot-judge/bench_entail_layouts.py --compare batch -m smollm2-135m-qa4re-entail --n 100 --block 10 \
    --threads "$THREADS" --out experiments/speed/results/qa4re_bench_entail_batch_smollm2-135m-qa4re-entail.json ;;
dev)
  kgc-lite eval --gold runs/dev800/gold.jsonl --schema runs/dev800/schema.json --two-stage --qa-model "$Q" \
    --entail-examples 0 -t "$THREADS" --save-predictions "runs/dev800_${TAG}.jsonl" \
    -o "experiments/zero-shot-judge/results/two_stage_fewrel_unseen_10_seed_0_dev800_${TAG}.json" ;;
fewrel)
  kgc-lite eval -d fewrel --split unseen_5_seed_0 --qa4re --sample 600 -m "$Q" --answer entail --entail-examples 0 \
    -t "$THREADS" \
    -o "experiments/zero-shot-judge/results/qa4re_fewrel_unseen_5_seed_0_${TAG}_sample600.json" ;;
test)
  kgc-lite eval -d fewrel --split unseen_5_seed_0 --sample 600 --two-stage --qa-model "$Q" --entail-examples 0 \
    -t "$THREADS" \
    -o "experiments/zero-shot-judge/results/two_stage_fewrel_unseen_5_seed_0_${TAG}.json" ;;
*) echo "usage: $0 semeval|semeval-prior|semeval-shots|semeval-qfirst|semeval-seed1|semeval-prior-settled|semeval-full|semeval-full-score|bench-layouts|bench-batch|dev|fewrel|test" >&2; exit 2 ;;
esac
