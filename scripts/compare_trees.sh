#!/usr/bin/env bash
# Does a refactor change any shipped output? Runs the same commands on two checkouts of kgc-lite and compares:
# extract records (news example, railways with two stages) byte for byte, and eval's saved predictions (CoNLL04
# test one pass, railways gold two stages) byte for byte, with their metrics and configs apart from speed.
#
#   git worktree add --detach /tmp/before <old-commit>
#   scripts/compare_trees.sh /tmp/before . runs/compare      # about 10 minutes on 2 cores
set -uo pipefail
OLD=$(cd "$1" && pwd); NEW=$(cd "$2" && pwd); OUT=$(mkdir -p "$3" && cd "$3" && pwd)
EX=$NEW/examples
run() { local tree=$1; shift; (cd "$tree" && PYTHONPATH="$tree" python3 -m kgc_lite "$@"); }
for side in old new; do
  tree=$OLD; [ $side = new ] && tree=$NEW
  run "$tree" extract --threads 2 "$EX/news.txt" > "$OUT/news.$side.jsonl"
  run "$tree" extract --threads 2 --jsonl --schema "$EX/railways/railways.toml" "$EX/railways/railways.jsonl" \
    > "$OUT/rail.$side.jsonl"
  run "$tree" eval --dataset conll04 --split test --threads 2 --no-progress \
    --save-predictions "$OUT/conll04.$side.pred.jsonl" --out "$OUT/conll04.$side.json"
  run "$tree" eval --gold "$EX/railways/railways.jsonl" --schema "$EX/railways/railways.toml" --threads 2 \
    --no-progress --save-predictions "$OUT/railgold.$side.pred.jsonl" --out "$OUT/railgold.$side.json"
done
status=0
for f in news.jsonl rail.jsonl conll04.pred.jsonl railgold.pred.jsonl; do
  if cmp -s "$OUT/${f%%.*}.old.${f#*.}" "$OUT/${f%%.*}.new.${f#*.}"; then echo "$f: same bytes"; else echo "$f: DIFFERS"; status=1; fi
done
for f in conll04 railgold; do
  python3 - "$OUT/$f.old.json" "$OUT/$f.new.json" <<'PY' || status=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
keep = lambda d: {k: v for k, v in d["metrics"].items() if "per_second" not in k and "seconds" not in k}
same = keep(a) == keep(b) and a["config"] == b["config"]
print(f"{sys.argv[1].split('/')[-1].split('.')[0]}: micro F1 {100 * a['metrics']['f1']:.1f} -> {100 * b['metrics']['f1']:.1f}, "
      f"metrics and config {'equal' if same else 'DIFFER'} (speed aside)")
sys.exit(0 if same else 1)
PY
done
exit $status
