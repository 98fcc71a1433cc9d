"""llama.cpp underneath: loading a GGUF model with CPU/GPU offload, batched grammar-constrained decoding,
and `kgc-lite doctor`'s checks."""
