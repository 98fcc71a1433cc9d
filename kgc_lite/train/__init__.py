"""LoRA (or full) fine-tuning on the CPU or a GPU (the `train` extra: torch, transformers, peft) and
`kgc-lite convert` to GGUF."""
