#!/usr/bin/env bash
# One sitting on a CUDA machine (written for the H100 device; not yet run: no GPU was lent to the task that
# wrote it). Prints and saves every number to $OUT (default ./gpu_out). Steps:
#   1. build llama-cpp-python with CUDA for this GPU only (sm_90 on H100/H200) and check offload with `doctor`;
#   2. extract on CoNLL04 test: CPU build vs CUDA build, --batch 1 vs 8, sentences/s;
#   3. qa4re pairs/s on SemEval test with full offload;
#   4. LoRA training on CUDA in bf16 with the paper's recipe, and the ablations on CoNLL04.
# Needs: nvcc + cmake (on the device), the llama-cpp-python 0.3.36 sdist and the [train] wheels carried in
# .whl/ (the device has no network), ../shared/data copied to ./data-carry (set KGC_LITE_DATA).
set -euo pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export KGC_LITE_DATA=${KGC_LITE_DATA:-data-carry}
log() { echo "== $*" | tee -a "$OUT/session.log"; }

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
tar czf "$OUT/adapters.tgz" runs/*/adapter* runs/*/run_card.json
log "done: bring $OUT back, then on the CPU: kgc-lite convert runs/<name> -o <name>.gguf && kgc-lite eval ..."
