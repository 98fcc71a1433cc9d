"""`kgc-lite convert`: a trained adapter (or full fine-tune) merged into its base and quantized
to one GGUF file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kgc_lite.errors import KgcError
from kgc_lite.models.merge import (
    QUANT_TYPES,
    hf_merge_to_gguf,
    is_full_run,
    merge_and_quantize,
    prompt_metadata,
    quantize,
    read_lora,
)


# -- entry points ---------------------------------------------------------------------------------------------
def base_gguf(ref: str | None) -> Path:
    """The GGUF file of a base named by registry name (None: the default) or path; HF folders have none."""
    from kgc_lite.models import registry as models
    from kgc_lite.models.resolve import resolve
    if ref and os.path.isdir(ref):
        raise KgcError(f"base {ref} is a Hugging Face folder; a GGUF LoRA needs the base as GGUF (convert the "
                       "merged model instead, or give the base's .gguf)")
    if ref is None:  # the default model; if that is itself fine-tuned, its base
        ref = models.spec_for(None).base
    try:
        return resolve(ref).path
    except KgcError as exc:
        raise KgcError(f"unknown base model {ref!r}: {exc}") from None


def convert(adapter: str | Path, base: str | None, out: str | Path, qtype: str = "Q8_0",
            threads: int | None = None, pre_tokenizer: str | None = None) -> Path:
    """Merge `adapter` into `base` (registry name, .gguf, or Hugging Face folder) and write a qtype GGUF."""
    qtype = qtype.upper()
    if qtype not in QUANT_TYPES:
        raise KgcError(f"unknown quantization {qtype}; choose one of {', '.join(QUANT_TYPES)}")
    meta = prompt_metadata(adapter)
    if is_full_run(adapter):
        if base and os.path.isdir(base):
            raise KgcError(f"{adapter} is a full fine-tune: it is written over its base's GGUF, not a Hugging Face "
                           "folder (give the .gguf or models.toml name it was trained from as --base)")
    else:
        read_lora(adapter)  # fail early on a bad adapter folder
    if base and os.path.isdir(base):
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            outtype = "F32" if qtype == "F32" else "F16"
            merged = hf_merge_to_gguf(base, adapter, Path(tmp) / "merged.gguf", outtype, pre_tokenizer, meta)
            if qtype == outtype:
                os.replace(merged, out)
                return out
            return quantize(merged, out, qtype, threads)
    return merge_and_quantize(base_gguf(base), adapter, out, qtype, threads, meta)
