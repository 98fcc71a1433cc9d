#!/usr/bin/env bash
# Issue 14, stop 21: the one-relation reader and the judge that learns to refuse stage 1's wrong pairs, as run on
# the project's 2-core CPU (about 50 + 5 + 18 + 13 minutes). Every step skips itself when its output exists, so a
# stopped run resumes where it was (a training step resumes from its checkpoint with the same command + --resume).
#
#   RUNS=/work/runs THREADS=2 experiments/reader-judge/train_reader_judge.sh
#   then: READER=$RUNS/reader1.gguf JUDGE=$RUNS/judge1.gguf TAG=judge1 experiments/reader-judge/eval_reader.sh dev
#
# 1. reader1: from the shipped pair finder's adapter, 500 steps of 8 one-relation prompts over FewRel (its
#    relations outside fewrel/unseen_10_seed_0) and ADE + CoNLL04 + SciERC; half the prompts name a relation the
#    sentence does not hold (answer []).
# 2. mined1.jsonl: the pair finder's pairs and reader1's fill of the sentence's own relation on 1,500 seeded
#    FewRel training sentences, where they are not the labelled pair (experiments/reader-judge/mine_judge_negatives.py).
# 3. judge1: from the shipped entail model's adapter, 200 steps of 16 statements: its own data mix plus the mined
#    pairs as none-of-the-above questions against their own relation (a third of the steps), lr 3e-4.
# 4. judge2: the same at a ninth of the steps, 150 steps, lr 2e-4 (judge1 learned to refuse everything).
set -euo pipefail
RUNS=${RUNS:-runs}
THREADS=${THREADS:-2}
cd "$(dirname "$0")/../.."
mkdir -p "$RUNS"
if [ ! -e "$RUNS/reader1/adapter_model.safetensors" ]; then
  kgc-lite train --out "$RUNS/reader1" --data fewrel,kgc --icl 0 --min-relations 1 --max-relations 1 --p-empty 0.5 \
    --init-adapter adapters/smollm2-135m-pairs --alpha 32 --lr 3e-4 --steps 500 --batch 8 --micro-batch 8 \
    --save-every 50 --threads "$THREADS" --seed 0
fi
[ -e "$RUNS/reader1.gguf" ] || kgc-lite convert "$RUNS/reader1" --out "$RUNS/reader1.gguf" -t "$THREADS"
[ -e "$RUNS/mined1.jsonl" ] || python experiments/reader-judge/mine_judge_negatives.py --reader "$RUNS/reader1.gguf" \
  --sentences 1500 --threads "$THREADS" --out "$RUNS/mined1.jsonl"
# judge NAME MINED_WEIGHT STEPS LR SEED: the shipped entail adapter trained further with the mined pairs
judge() {
  if [ ! -e "$RUNS/$1/adapter_model.safetensors" ]; then
    kgc-lite train --task qa4re --answer entail --data "semeval,fewrel,conll04,scierc,$RUNS/mined1.jsonl" \
      --mix "semeval=3,fewrel=3,conll04=1,scierc=1,$RUNS/mined1.jsonl=$2" \
      --init-adapter adapters/smollm2-135m-qa4re-entail --out "$RUNS/$1" --steps "$3" --batch 16 \
      --micro-batch 8 --lr "$4" --warmup 10 --alpha 32 --save-every 50 --threads "$THREADS" --seed "$5"
  fi
  [ -e "$RUNS/$1.gguf" ] || kgc-lite convert "$RUNS/$1" --out "$RUNS/$1.gguf" -t "$THREADS"
}
judge judge1 4 200 3e-4 5
judge judge2 1 150 2e-4 6
