#!/usr/bin/env bash
# One sitting on a CUDA machine (written for the H100/H200 device; not yet run: no GPU has been lent to the tasks
# that wrote it). Prints and saves every number to $OUT (default ./gpu_out). Steps:
#   1. build llama-cpp-python with CUDA for this GPU only (sm_90 on H100/H200) and check offload with `doctor`;
#   2. extract on CoNLL04 test: CPU build vs CUDA build, --batch 1 vs 8, sentences/s;
#   3. qa4re pairs/s on SemEval test with full offload;
#   4. LoRA training on CUDA in bf16 with the paper's recipe, and the ablations on CoNLL04;
#   5. the multi-schema recipe of issue 14 (kgc_lite/train/schema_mix.py): ADE + CoNLL04 + SciERC + FewRel + Wiki-ZSL,
#      each prompt with its own schema (shuffled relations, distractors up to 20, other names / R1.., empty
#      answers, detokenized copies), FewRel's unseen_10_seed_0 test+dev relations held out by Wikidata id.
#
# A session's lease is 15 minutes of device time, so the plan for one is step 5 alone (ONLY=multischema), run on
# what scripts/gpu_pack.py carries: the device has no network, and the base GGUF (94 MiB), the data and the
# wheels it lacks (gguf, orjson, jsonschema) do not fit one call beside the working tree. Here:
#   python3 scripts/gpu_pack.py pack     # .carry/part-01..06 + manifest; prints the calls
# then device calls 1-5 `python3 scripts/gpu_pack.py unpack K` (carry .carry/manifest.json and .carry/part-0K),
# each within 30 s of the last, and call 6 (timeout_s 590):
#   python3 scripts/gpu_pack.py unpack 6 && . /tmp/kgc/env.sh && ONLY=multischema MS_SECONDS=420 scripts/gpu_session.sh
# It trains for MS_SECONDS at most (then stops the run with SIGINT, which saves a checkpoint), snapshots the
# adapter at each checkpoint, and leaves in $OUT: session.log, train.log, the final adapter folder as a .tgz, and
# up to 4 snapshots as fp16 safetensors (ckpt-STEP.safetensors). Back here, for each:
#   kgc-lite convert <folder with adapter_config.json + the snapshot as adapter_model.safetensors> -o ms.gguf
#   kgc-lite eval --model ms.gguf --dataset fewrel --split unseen_5_seed_0 ...  (zero-shot F1 per stage)
# Steps 1-4 need more parts (the llama-cpp-python sdist, .whl/) and a longer lease than a session has.
#
# The quality tier (issue 36) on the GPU: the same step 5 on Qwen2.5-Coder-0.5B from the campaign's latest
# snapshot. The tracked adapters alone outgrow a call, so park the ones the job does not read first, and carry
# the quality base (491 MiB: about 14 parts of 38 MiB beside a 23 MiB tree):
#   python3 scripts/gpu_pack.py park --keep campaign/qwen05-kg-2
#   python3 scripts/gpu_pack.py pack --base "$(kgc-lite models path qwen2.5-coder-0.5b-instruct)"
#   ... the calls as printed; the last one:
#   python3 scripts/gpu_pack.py unpack N && . /tmp/kgc/env.sh && ONLY=multischema MS_INIT=campaign/qwen05-kg-2 \
#     MS_STEPS=2000 MS_BATCH=16 MS_SECONDS=420 scripts/gpu_session.sh
#   python3 scripts/gpu_pack.py unpark     # here, at once, whatever happened there
# Back here: multischema_adapter.tgz holds the last adapter with its run card (or put the newest
# ckpt-STEP.safetensors, as adapter_model.safetensors, beside adapter_config.json); go on with
# `kgc-lite train ... --init-adapter FOLDER`, or score it with `kgc-lite convert FOLDER --base
# qwen2.5-coder-0.5b-instruct -o x.gguf` and `kgc-lite eval --model x.gguf --prompt-style natural --icl 0 ...`.
# CPU smoke of step 5's exact command, 2 steps, no CUDA (proves the data pipeline here):
#   SMOKE=1 OUT=/tmp/smoke scripts/gpu_session.sh
set -euo pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
SMOKE=${SMOKE:-0}
ONLY=${ONLY:-all}
if [ "$SMOKE" = 1 ]; then ONLY=multischema; else export KGC_LITE_DATA=${KGC_LITE_DATA:-data-carry}; fi
log() { echo "== $*" | tee -a "$OUT/session.log"; }
. "$(dirname "$0")/ms_recipe.sh"   # MS_RECIPE: step 5's data and model shape

# Step 5's recipe. GPU: MS_STEPS steps of MS_BATCH from the shipped adapter (MS_INIT='' starts fresh), stopped
# after MS_SECONDS if not done (the step count is a guess; the learning rate decays over MS_STEPS either way).
# Smoke: 2 steps of 2 on 1 CPU thread.
multischema() {
  local steps=${MS_STEPS:-3000} batch=${MS_BATCH:-16} micro=${MS_MICRO:-16} every=${MS_EVERY:-250} extra=()
  local init=${MS_INIT-adapters/smollm2-135m-kg} budget=${MS_SECONDS:-420}
  if [ "$SMOKE" = 1 ]; then steps=2; batch=2; micro=2; every=1; extra+=(--device cpu --threads 1); fi
  [ -n "$init" ] && extra+=(--init-adapter "$init")
  [ -n "${BASE:-}" ] && extra+=(--base "$BASE")
  local run=${MS_RUN:-runs/multischema}
  [ "$SMOKE" = 1 ] && run="$OUT/multischema-smoke"
  log "5. multi-schema training: $steps steps of $batch (at most $budget s) -> $run"
  local start; start=$(date +%s)
  ( while sleep 5; do snapshot "$run"; done ) &   # a snapshot of each checkpoint while it trains
  local snapper=$!
  # In the foreground, so SIGINT reaches Python (a background job of a script ignores it): the run saves a
  # checkpoint and stops. -k: killed 60 s later if it has not.
  timeout -s INT -k 60 "$budget" kgc-lite train "${MS_RECIPE[@]}" --steps "$steps" \
    --batch "$batch" --micro-batch "$micro" --warmup "$(( steps < 50 ? 1 : 50 ))" --save-every "$every" \
    "${extra[@]}" -o "$run" > "$OUT/train.log" 2>&1 || log "training stopped (exit $?): budget reached or failed"
  kill "$snapper" 2>/dev/null; wait "$snapper" 2>/dev/null || true
  snapshot "$run"
  grep -v "it/s]" "$OUT/train.log" | tail -n 6 | tee -a "$OUT/session.log"
  echo "multischema: $(( $(date +%s) - start )) s; snapshots: $(cd "$OUT" && ls ckpt-*.safetensors 2>/dev/null | \
    tr '\n' ' ')" | tee -a "$OUT/session.log"
  # Ablations (one augmentation off each), same budget: --no-shuffle-relations, --no-distractors,
  # --no-rename-relations, --no-empty-answers, --no-detok-copies.
  if [ -f "$run/adapter_model.safetensors" ]; then
    tar czf "$OUT/multischema_adapter.tgz" "$run"/adapter* "$run"/run_card.json
  fi
}
# snapshot RUN: RUN's checkpoint adapter as $OUT/ckpt-STEP.safetensors in fp16 (with adapter_config.json once),
# unless that step has one already; the 4 newest kept ($OUT brings back 8 files at most).
snapshot() {
  local ck="$1/checkpoint" copy="$OUT/.ckpt-copy" step before
  [ -f "$ck/state.pt" ] || return 0
  before=$(stat -c %i "$ck" 2>/dev/null) || return 0
  rm -rf "$copy"; cp -r "$ck" "$copy" 2>/dev/null || return 0
  [ "$(stat -c %i "$ck" 2>/dev/null)" = "$before" ] || return 0     # replaced while copying: next time
  step=$(python3 -c "import torch,sys; print(torch.load(sys.argv[1], weights_only=False)['step'])" \
    "$copy/state.pt" 2>/dev/null) || return 0
  [ -f "$OUT/ckpt-$step.safetensors" ] && return 0
  python3 - "$copy" "$OUT/ckpt-$step.safetensors" <<'PY' || return 0
import sys
from safetensors.torch import load_file, save_file
save_file({k: v.half().contiguous() for k, v in load_file(sys.argv[1] + "/adapter_model.safetensors").items()},
          sys.argv[2], metadata={"format": "pt"})
PY
  [ -f "$OUT/adapter_config.json" ] || cp "$copy/adapter_config.json" "$OUT/"
  rm -rf "$copy"
  ls -1 "$OUT"/ckpt-*.safetensors | sort -t- -k2 -n | head -n -4 | xargs -r rm -f
}
if [ "$ONLY" = multischema ]; then
  multischema
  log "done: on the CPU, kgc-lite convert <run> -o ms.gguf, then kgc-lite eval --model ms.gguf --dataset fewrel \
--split unseen_5_seed_0 / unseen_10_seed_0, --dataset conll04 --detok, and examples/railways"
  exit 0
fi

log "1. CUDA build of llama-cpp-python"
python3 -m pip install -q --no-index --find-links .whl "llama-cpp-python==0.3.36" \
  --config-settings=cmake.args="-DGGML_CUDA=on;-DCMAKE_CUDA_ARCHITECTURES=90" --no-cache-dir --force-reinstall
python3 -m pip install -q --no-index --find-links .whl --no-deps -e ".[train]"
kgc-lite doctor | tee "$OUT/doctor.txt"          # must say "GPU offload yes" and "offloaded N/N layers"

log "2. extract throughput, full offload, batch 1 vs 8 (CoNLL04 test, 288 sentences)"
for b in 1 8 32; do
  kgc-lite bench --dataset conll04 --split test --batch "$b" --n-gpu-layers -1 --no-baseline \
    -o "$OUT/bench_cuda_batch$b.json" 2>&1 | tee -a "$OUT/session.log"
done

log "3. qa4re pairs/s with full offload (SemEval test)"
python3 scripts/bench_qa4re.py --n 1000 --out "$OUT/qa4re_bench_cuda.json" 2>&1 | tee -a "$OUT/session.log"

log "4. training on CUDA, bf16, paper recipe (r=16, alpha=16, lr 2e-4, 200 steps, batch 8, 3 ICL)"
for style in natural code; do
  start=$(date +%s)
  kgc-lite train --data ade,conll04,scierc --prompt-style "$style" --icl 3 --steps 200 -o "runs/union-$style" \
    2>&1 | tail -n 3 | tee -a "$OUT/session.log"
  echo "union-$style: $(( $(date +%s) - start )) s for 200 steps" | tee -a "$OUT/session.log"
done
for icl in 0 6; do kgc-lite train --data conll04 --icl "$icl" --steps 200 -o "runs/conll04-icl$icl"; done
kgc-lite train --data conll04 --rationale --steps 200 -o runs/conll04-rationale
multischema
tar czf "$OUT/adapters.tgz" runs/*/adapter* runs/*/run_card.json
log "done: bring $OUT back, then on the CPU: kgc-lite convert runs/<name> -o <name>.gguf && kgc-lite eval ..."
