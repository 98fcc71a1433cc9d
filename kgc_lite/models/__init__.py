"""The model registry (models.toml): names to verified GGUF files, fine-tuned models merged from their adapters
at first use, and `kgc-lite models pull`."""
