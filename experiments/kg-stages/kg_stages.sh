#!/usr/bin/env bash
# Issue 14's in-schema bar (CoNLL04 test >= 56): two more training stages of the default extractor's adapter,
# gated on the validation splits before any test split is run (stop 30's stages 6 and 7, rerun in stop 34).
#
#   nohup experiments/kg-stages/kg_stages.sh train > runs/kg-stages.log 2>&1 &   # stage 6 (240 steps of 8) + 7 (120); ~25 min on 2 cores
#   experiments/kg-stages/kg_stages.sh val     # the three val splits, then the gate against the shipped default's val files
#   experiments/kg-stages/kg_stages.sh test    # only after the gate passed: the four test bars (the mix: S7=runs/kg-mix50 TAG=kg-mix50)
#   experiments/kg-stages/kg_stages.sh mix     # stop 34's second candidate: halfway between the shipped adapter and stage 7
#                                # in weight space (scripts/lora_mix.py), then its val gate
#
# Gate (stop 34, from the issue's test margins): CoNLL04 val gains more than 0.5; ADE val loses at most 1.2
# (shipped ADE test 65.2, bar 64); SciERC val loses at most 0.7 (shipped SciERC test 26.7, bar 26).
# TAG names the result files (experiments/kg-stages/results/eval_$TAG_*); stop 30's own stage-7 files are eval_kg-stage7_*.
# Stop 34: stage 7 (TAG kg-stage7b) failed the val gate (SciERC -1.55); the mix passed it (+2.99 / +0.56 /
# +0.54) and then scored CoNLL04 test 54.5 against the bar's 56: neither shipped (docs/history.md, stop 34).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}
TAG=${TAG:-kg-stage7b}
S6=${S6:-runs/kg-stage6}
S7=${S7:-runs/kg-stage7}
common=(--base smollm2-135m --data ade,conll04,scierc --prompt-style natural --icl 0 --rank 16 --alpha 32
        --warmup 10 --batch 8 --micro-batch 8 --max-length 512 --save-every 20 --threads "$THREADS")

# the GGUF is named after TAG, which the result files' model name then is (stop 34's kg-stage7b files say
# kg-stage7: they were made before this naming)
gguf() { [ -f "runs/$TAG.gguf" ] || kgc-lite convert "$S7" --base smollm2-135m --type Q8_0 --out "runs/$TAG.gguf" >&2
         echo "runs/$TAG.gguf"; }

case "${1:-}" in
train)
  kgc-lite train "${common[@]}" --lr 1.5e-4 --steps 240 --seed 5 --mix ade=1,conll04=2,scierc=2 \
    --init-adapter adapters/smollm2-135m-kg --out "$S6"
  kgc-lite train "${common[@]}" --lr 1e-4 --steps 120 --seed 6 --mix ade=1,conll04=1,scierc=3 \
    --init-adapter "$S6" --out "$S7" ;;
mix)
  python3 scripts/lora_mix.py adapters/smollm2-135m-kg "$S7" 0.5 runs/kg-mix50
  S7=runs/kg-mix50 TAG=kg-mix50 exec "$0" val ;;
val)
  m=$(gguf)
  for d in conll04 ade scierc; do
    kgc-lite eval --dataset "$d" --split val -m "$m" --prompt-style natural --icl 0 --retokenize -t "$THREADS" --no-progress \
      --save-predictions "runs/${TAG}_${d}_val.jsonl" -o "experiments/kg-stages/results/eval_${TAG}_${d}_val.json"
  done
  python3 - "$TAG" <<'EOF'
import json, sys
tag = sys.argv[1]
f1 = lambda p: 100 * json.load(open(p))["metrics"]["f1"]
room = {"conll04": None, "ade": 1.2, "scierc": 0.7}
ok = True
for d, r in room.items():
    new, old = f1(f"experiments/kg-stages/results/eval_{tag}_{d}_val.json"), f1(f"results/eval_smollm2-135m-kg_{d}_val_abbrev-period.json")
    good = new - old > 0.5 if r is None else new - old >= -r
    ok &= good
    print(f"{d:8s} val {new:6.2f} shipped {old:6.2f} change {new - old:+6.2f}  {'pass' if good else 'FAIL'}")
print("gate:", "PASSED, run the test bars" if ok else "FAILED, do not run test")
sys.exit(0 if ok else 1)
EOF
  ;;
test)
  m=$(gguf)
  for d in conll04 ade scierc; do
    kgc-lite eval --dataset "$d" --split test -m "$m" --prompt-style natural --icl 0 --retokenize -t "$THREADS" --no-progress \
      -o "experiments/kg-stages/results/eval_${TAG}_${d}_test.json"
  done
  kgc-lite eval --dataset conll04 --split test --detok -m "$m" --prompt-style natural --icl 0 --retokenize -t "$THREADS" \
    --no-progress -o "experiments/kg-stages/results/eval_${TAG}_conll04-detok_test.json" ;;
*) sed -n 2,15p "$0"; exit 2 ;;
esac
