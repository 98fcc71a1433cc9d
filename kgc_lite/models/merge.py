"""LoRA adapter -> GGUF: merge into a base model, write F16/F32, quantize with llama.cpp; or export the adapter
alone as a GGUF LoRA for `Llama(lora_path=...)`.

The GGUF-base path needs only numpy and the `gguf` package (no torch), so the fine-tuned default can be merged
at first use on any machine that has kgc-lite: the base's tensors are dequantized, the LoRA delta
`scale * B @ A` is added, and the result is written with all of the base's metadata (tokenizer, chat template).

llama.cpp stores the Q and K projections of llama-family models with their rows permuted (convert_hf_to_gguf's
`permute`: per head, the two rotary halves interleaved), and transformers undoes that permutation when it loads a
GGUF. A LoRA trained in transformers therefore lives in the unpermuted space: its delta's rows (B's rows) must be
permuted the same way before they are added to, or exported against, the GGUF's Q and K.

The adapter is read in PEFT format (adapter_config.json + adapter_model.safetensors); the safetensors file is
parsed here with numpy, so no torch is needed to merge.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgc_lite.data.benchmarks import TRIPLET_SETS
from kgc_lite.data.zero_rte import ZERO_RTE_SETS
from kgc_lite.errors import KgcError

# Architectures whose Q/K rows llama.cpp's converter permutes (convert_hf_to_gguf.LlamaModel and its kin).
PERMUTED_ARCHS = {"llama", "granite", "granitemoe", "deci"}


# HF module (after "layers.N.") -> GGUF tensor (after "blk.N.").
MODULE_TO_GGUF = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


_KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_([AB])(?:\.default)?\.weight$")


QUANT_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1")


_FTYPE = {"F32": "LLAMA_FTYPE_ALL_F32", "F16": "LLAMA_FTYPE_MOSTLY_F16", "BF16": "LLAMA_FTYPE_MOSTLY_BF16",
          "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "Q6_K": "LLAMA_FTYPE_MOSTLY_Q6_K", "Q5_K_M": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
          "Q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0", "Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
          "Q4_K_S": "LLAMA_FTYPE_MOSTLY_Q4_K_S", "Q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "Q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1"}


# -- the adapter ----------------------------------------------------------------------------------------------
@dataclass
class Lora:
    rank: int
    alpha: float
    scale: float                                   # what the delta B @ A is multiplied by
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]  # "blk.N.attn_q" -> (A (r, in), B (out, r)), float32
    config: dict


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """A safetensors file as numpy arrays (F32/F16/BF16), without torch."""
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = blob[start:end]
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in dtypes:
            arr = np.frombuffer(raw, dtype=dtypes[info["dtype"]])
        else:
            raise KgcError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        out[name] = arr.reshape(info["shape"])
    return out


def lora_scale(cfg: dict) -> float:
    """What PEFT multiplies an adapter's B @ A by, from its adapter_config.json: alpha / r (alpha / sqrt(r) for
    rsLoRA)."""
    rank, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    return alpha / (rank ** 0.5 if cfg.get("use_rslora") else rank)


def read_lora(adapter: str | Path) -> Lora:
    """A PEFT LoRA adapter folder, as float32 (A, B) pairs keyed by GGUF tensor base name."""
    folder = Path(adapter)
    cfg_path, st_path = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not cfg_path.is_file() or not st_path.is_file():
        raise KgcError(f"{adapter} is not a LoRA adapter folder (needs adapter_config.json and "
                       "adapter_model.safetensors, as `kgc-lite train` writes)")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("peft_type", "LORA") != "LORA":
        raise KgcError(f"{adapter}: adapter type {cfg.get('peft_type')} is not LoRA")
    rank, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise KgcError(f"{adapter}: per-module rank/alpha patterns are not supported")
    scale = lora_scale(cfg)
    tensors = read_safetensors(st_path)
    halves: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in tensors.items():
        m = _KEY.search(key)
        if not m:
            raise KgcError(f"{adapter}: unexpected tensor {key} (only attention and MLP projections are supported)")
        layer, module, ab = m.groups()
        halves.setdefault(f"blk.{layer}.{MODULE_TO_GGUF[module]}", {})[ab] = arr.astype(np.float32)
    pairs = {}
    for name, h in halves.items():
        if set(h) != {"A", "B"}:
            raise KgcError(f"{adapter}: {name} lacks its lora_A or lora_B")
        pairs[name] = (h["A"], h["B"])
    if not pairs:
        raise KgcError(f"{adapter}: the adapter holds no LoRA tensors")
    return Lora(rank, alpha, scale, pairs, cfg)


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's Q/K row order (convert_hf_to_gguf `permute`) applied to the rows of w."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _arch_heads(reader) -> tuple[str, int, int]:
    arch = _field(reader, "general.architecture")
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    n_kv = _field(reader, f"{arch}.attention.head_count_kv")
    return arch, n_head, int(n_kv) if n_kv is not None else n_head


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    v = f.contents()
    return v


def rows_in_gguf_order(name: str, rows: np.ndarray, arch: str, n_head: int, n_kv: int,
                       permute: bool = True) -> np.ndarray:
    """A tensor in Hugging Face row order (a weight, a bias, or a LoRA's B) with its rows in the order the GGUF
    stores tensor `name` ("blk.3.attn_q", no .weight/.bias): llama's Q and K permuted, all else as it is."""
    if permute and arch in PERMUTED_ARCHS:
        if name.endswith(".attn_q"):
            return permute_rows(rows, n_head)
        if name.endswith(".attn_k"):
            return permute_rows(rows, n_kv)
    return rows


def gguf_array(t) -> np.ndarray:
    """A GGUF reader tensor as float32 numpy, dequantized, in numpy's (rows, columns) shape."""
    import gguf
    if t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
        w = np.asarray(t.data)
    else:
        w = gguf.quants.dequantize(t.data, t.tensor_type)
    return w.astype(np.float32).reshape(tuple(int(d) for d in reversed(t.shape)))


# -- merge into a GGUF base -----------------------------------------------------------------------------------
def merge_gguf(base: str | Path, adapter: str | Path | Lora, out: str | Path, outtype: str = "F16",
               permute: bool = True, meta: dict | None = None) -> Path:
    """Dequantize a GGUF base, add the LoRA delta, write an F16 or F32 GGUF with the base's metadata (plus
    `meta`, the prompt keys of prompt_metadata).

    `permute=False` exists only so the fidelity test can show that skipping the Q/K permutation is caught.
    """
    lora = adapter if isinstance(adapter, Lora) else read_lora(adapter)

    def add_delta(tensor: str, w: np.ndarray, arch: str, n_head: int, n_kv: int) -> np.ndarray:
        name = tensor[: -len(".weight")] if tensor.endswith(".weight") else None
        pair = lora.pairs.get(name) if name else None
        if pair is None:
            return w
        a, b = pair
        if w.shape != (b.shape[0], a.shape[1]):
            raise KgcError(f"the adapter does not fit base {base}: {name}.weight is {w.shape[::-1]} in the GGUF, "
                           f"the LoRA delta {(a.shape[1], b.shape[0])}")
        b = rows_in_gguf_order(name, b, arch, n_head, n_kv, permute)
        return (w.astype(np.float64) + (b.astype(np.float64) @ a.astype(np.float64)) * lora.scale).astype(np.float32)
    return _rewrite_gguf(base, out, outtype, meta, {f"{n}.weight" for n in lora.pairs}, "the adapter", add_delta)


def replace_gguf(base: str | Path, folder: str | Path, out: str | Path, outtype: str = "F16",
                 meta: dict | None = None) -> Path:
    """A full fine-tune (`train --full`: model.safetensors in Hugging Face names) written over its GGUF base: every
    tensor the fine-tune holds replaces the base's (Q/K rows permuted as llama.cpp stores them), everything else
    (tokenizer, chat template, hyperparameters) is the base's."""
    weights = read_full_weights(folder)

    def replace(name: str, w: np.ndarray, arch: str, n_head: int, n_kv: int) -> np.ndarray:
        new = weights.get(name)
        if new is None:
            return w
        new = new.astype(np.float32)
        if new.shape != w.shape:
            raise KgcError(f"the fine-tune in {folder} does not fit base {base}: {name} is {w.shape[::-1]} "
                           f"in the GGUF, {new.shape[::-1]} in the fine-tune (was it trained on another model?)")
        return rows_in_gguf_order(name.rsplit(".", 1)[0], new, arch, n_head, n_kv)
    return _rewrite_gguf(base, out, outtype, meta, set(weights), f"the fine-tune in {folder}", replace)


def _rewrite_gguf(base: str | Path, out: str | Path, outtype: str, meta: dict | None, names_needed: set[str],
                  what: str, update) -> Path:
    """The base GGUF, dequantized, each tensor passed through update(name, w, arch, n_head, n_kv), written as
    F16 or F32 with the base's metadata (plus `meta`). The tensors `names_needed` must all exist in the base."""
    import gguf
    if outtype not in ("F16", "F32"):
        raise KgcError(f"merge writes F16 or F32 (got {outtype}); quantize afterwards")
    reader = gguf.GGUFReader(str(base))
    arch, n_head, n_kv = _arch_heads(reader)
    names = {t.name for t in reader.tensors}
    missing = sorted(n for n in names_needed if n not in names)
    if missing:
        raise KgcError(f"{what} does not fit base {base}: it has no tensors {', '.join(missing[:3])}"
                       f"{' …' if len(missing) > 3 else ''} (was it trained on another model?)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    writer = gguf.GGUFWriter(str(tmp), arch=arch)
    _copy_metadata(reader, writer, {"general.file_type": (0 if outtype == "F32" else 1, gguf.GGUFValueType.UINT32)})
    _add_prompt_metadata(writer, meta)
    half = outtype == "F16"
    for t in reader.tensors:
        w = update(t.name, gguf_array(t), arch, n_head, n_kv)
        if half and w.ndim >= 2:
            w = w.astype(np.float16)
        writer.add_tensor(t.name, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return out


# -- full fine-tunes (`train --full`) ---------------------------------------------------------------------------
FULL_WEIGHTS = "model.safetensors"


_HF_NAMES = {"model.embed_tokens.weight": "token_embd", "model.norm.weight": "output_norm",
             "lm_head.weight": "output"}


_HF_LAYER = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             **{k.split(".")[1]: v for k, v in MODULE_TO_GGUF.items()}}


_HF_LAYER_KEY = re.compile(r"model\.layers\.(\d+)\.(?:self_attn|mlp|)\.?(\w+)\.(weight|bias)$")


def is_rope_buffer(key: str) -> bool:
    """A Hugging Face state-dict entry that is a recomputed buffer, not a weight: RoPE's inverse frequencies.
    Neither written to a GGUF nor expected back from a saved full fine-tune."""
    return key.endswith("rotary_emb.inv_freq")


def gguf_tensor_name(key: str) -> str | None:
    """A Hugging Face llama/qwen2 tensor name as GGUF names it ("model.layers.3.mlp.up_proj.weight" ->
    "blk.3.ffn_up.weight"), or None when it has none (rotary caches)."""
    if key in _HF_NAMES:
        return f"{_HF_NAMES[key]}.weight"
    m = _HF_LAYER_KEY.match(key)
    if m and m.group(2) in _HF_LAYER:
        return f"blk.{m.group(1)}.{_HF_LAYER[m.group(2)]}.{m.group(3)}"
    return None


def is_full_run(folder: str | Path) -> bool:
    """A `train --full` run folder (or its checkpoint): the whole model's weights, no adapter."""
    folder = Path(folder)
    return (folder / FULL_WEIGHTS).is_file() and not (folder / "adapter_config.json").exists()


def read_full_weights(folder: str | Path) -> dict[str, np.ndarray]:
    """A full fine-tune's tensors keyed by GGUF tensor name ("blk.3.ffn_up.weight"), float32 or float16."""
    out = {}
    for key, arr in read_safetensors(Path(folder) / FULL_WEIGHTS).items():
        name = gguf_tensor_name(key)
        if name is None:
            raise KgcError(f"{folder}: tensor {key} has no GGUF name in the built-in converter")
        out[name] = arr
    if not out:
        raise KgcError(f"{folder}: {FULL_WEIGHTS} holds no tensors")
    return out


# The prompt a fine-tuned model was trained with, written into the GGUFs `kgc-lite convert` makes, so that
# `--model path.gguf` prompts it the same way (models.resolve reads them back). Registry builds leave them out:
# their prompt is in models.toml and their bytes are checked against a sha256.
PROMPT_KEYS = {"prompt_style": "kgc_lite.prompt_style", "icl": "kgc_lite.icl",
               "tokenized_text": "kgc_lite.tokenized_text"}
# Training data names whose text is pre-tokenized ("Redmond , Washington ."): a model trained on these alone is
# shown ordinary text split the same way (ModelSpec.tokenized_text).
PRETOKENIZED_DATA = frozenset({"kgc", *TRIPLET_SETS, *ZERO_RTE_SETS})


def read_run_card(adapter: str | Path) -> dict:
    """The adapter folder's run card: run_card.json (kgc-lite train writes it) or, for a campaign snapshot
    (scripts/campaign_snapshot.py), campaign.json, which carries the same `options`; {} when it has neither or
    they are unreadable."""
    for name in ("run_card.json", "campaign.json"):
        try:
            card = json.loads((Path(adapter) / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(card, dict):
            return card
    return {}


def prompt_metadata(adapter: str | Path) -> dict:
    """{"prompt_style", "icl", "tokenized_text"} from the adapter's run card (kgc-lite train), or {} when it has
    none. tokenized_text: every training set was a pre-tokenized benchmark, with no detokenized copies."""
    opts = read_run_card(adapter).get("options", {})
    if opts.get("task", "triplets") not in ("triplets", "both") or "style" not in opts:
        return {}
    data = opts.get("data") or []
    return {"prompt_style": str(opts["style"]), "icl": int(opts.get("icl", 0)),
            "tokenized_text": bool(data) and set(data) <= PRETOKENIZED_DATA and not opts.get("detok_copies")}


def _add_prompt_metadata(writer, meta: dict | None) -> None:
    for key, value in (meta or {}).items():
        if isinstance(value, bool):
            writer.add_bool(PROMPT_KEYS[key], value)
        elif isinstance(value, int):
            writer.add_uint32(PROMPT_KEYS[key], value)
        else:
            writer.add_string(PROMPT_KEYS[key], value)


def read_prompt_metadata(path: str | Path) -> dict:
    """The prompt keys of a GGUF (prompt_metadata's names), {} when it has none or cannot be read as GGUF."""
    import gguf
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception:  # not ours to judge here: loading the model reports a bad file
        return {}
    out = {}
    for name, key in PROMPT_KEYS.items():
        field = reader.fields.get(key)
        if field is not None:
            out[name] = field.contents()
    return out


def _copy_metadata(reader, writer, override: dict) -> None:
    import gguf
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        if field.name in override:
            value, vtype = override[field.name]
            writer.add_key_value(field.name, value, vtype)
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)


# -- quantize -------------------------------------------------------------------------------------------------
def quantize(src: str | Path, out: str | Path, qtype: str, threads: int | None = None) -> Path:
    """llama.cpp's own quantizer (llama_model_quantize) from an F16/F32 GGUF."""
    import llama_cpp

    from kgc_lite.runtime.engine import _quiet_llama_logs
    qtype = qtype.upper()
    if qtype not in _FTYPE:
        raise KgcError(f"unknown quantization {qtype}; choose one of {', '.join(QUANT_TYPES)}")
    _quiet_llama_logs()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, _FTYPE[qtype])
    params.nthread = threads or (os.cpu_count() or 1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise KgcError(f"llama.cpp could not quantize {src} to {qtype} (status {rc})")
    os.replace(tmp, out)
    return out


def merge_and_quantize(base: str | Path, adapter: str | Path, out: str | Path, qtype: str = "Q8_0",
                       threads: int | None = None, meta: dict | None = None) -> Path:
    """Merge into an F16 GGUF (or F32), then quantize to qtype; intermediate files are removed. A full
    fine-tune's folder (`train --full`) is written over the base instead of merged into it."""
    write = replace_gguf if is_full_run(adapter) else merge_gguf
    qtype = qtype.upper()
    if qtype in ("F16", "F32"):
        return write(base, adapter, out, qtype, meta=meta)
    if qtype not in _FTYPE:
        raise KgcError(f"unknown quantization {qtype}; choose one of {', '.join(QUANT_TYPES)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        f16 = write(base, adapter, Path(tmp) / "merged-f16.gguf", "F16", meta=meta)
        return quantize(f16, out, qtype, threads)


# -- the adapter alone as a GGUF LoRA ---------------------------------------------------------------------------
def export_lora(adapter: str | Path, base: str | Path, out: str | Path, outtype: str = "F16") -> Path:
    """A GGUF LoRA adapter (llama.cpp's format: general.type=adapter, blk.N.X.weight.lora_a/.lora_b) for
    `Llama(model_path=base, lora_path=out)`. The base GGUF supplies the architecture and head counts."""
    import gguf
    lora = read_lora(adapter)
    reader = gguf.GGUFReader(str(base))
    arch, n_head, n_kv = _arch_heads(reader)
    names = {t.name for t in reader.tensors}
    missing = [n for n in lora.pairs if f"{n}.weight" not in names]
    if missing:
        raise KgcError(f"the adapter does not fit base {base}: it has no tensors {', '.join(missing[:3])}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch=arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    # llama.cpp scales by alpha / rank; give it the alpha that reproduces PEFT's scale (rsLoRA included).
    writer.add_float32("adapter.lora.alpha", float(lora.scale * lora.rank))
    name = _field(reader, "general.name")
    if name:
        writer.add_string("general.name", f"{name} LoRA")
    dt = np.float16 if outtype == "F16" else np.float32
    for base_name in sorted(lora.pairs):
        a, b = lora.pairs[base_name]
        b = rows_in_gguf_order(base_name, b, arch, n_head, n_kv)
        writer.add_tensor(f"{base_name}.weight.lora_a", np.ascontiguousarray(a.astype(dt)))
        writer.add_tensor(f"{base_name}.weight.lora_b", np.ascontiguousarray(b.astype(dt)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


# -- Hugging Face folder base ---------------------------------------------------------------------------------
_HF_ARCH = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}


def hf_merge_to_gguf(folder: str | Path, adapter: str | Path | None, out: str | Path, outtype: str = "F16",
                     pre_tokenizer: str | None = None, meta: dict | None = None) -> Path:
    """A GGUF from a Hugging Face folder (llama and qwen2 architectures, BPE tokenizers), with a LoRA adapter
    merged in (numpy, fp64 delta). A minimal counterpart of llama.cpp's convert_hf_to_gguf.py for the model
    families kgc-lite fine-tunes; other architectures: convert with llama.cpp, then use the GGUF as --base."""
    import gguf
    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    arch = next((_HF_ARCH[a] for a in cfg.get("architectures", []) if a in _HF_ARCH), None)
    if arch is None:
        raise KgcError(f"{folder}: architecture {cfg.get('architectures')} is not supported by the built-in "
                       f"converter ({', '.join(_HF_ARCH)}); convert the base with llama.cpp's convert_hf_to_gguf.py "
                       "and pass the .gguf as --base")
    weights = {}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise KgcError(f"{folder}: no .safetensors weights")
    for f in files:
        weights.update(read_safetensors(f))
    lora = read_lora(adapter) if adapter is not None else None
    n_head = int(cfg["num_attention_heads"])
    n_kv = int(cfg.get("num_key_value_heads", n_head))
    n_layer = int(cfg["num_hidden_layers"])
    hidden = int(cfg["hidden_size"])
    head_dim = int(cfg.get("head_dim") or hidden // n_head)
    w = gguf.GGUFWriter(str(out), arch=arch)
    w.add_name(cfg.get("_name_or_path") or folder.name)
    w.add_block_count(n_layer)
    w.add_context_length(int(cfg.get("max_position_embeddings", 4096)))
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(int(cfg["intermediate_size"]))
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    rope = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta") or 10000.0
    w.add_rope_freq_base(float(rope))  # transformers 5 keeps it in rope_parameters
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-5)))
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(int(cfg["vocab_size"]))
    w.add_file_type(0 if outtype == "F32" else 1)
    _add_prompt_metadata(w, meta)
    _hf_tokenizer(folder, w, int(cfg["vocab_size"]), pre_tokenizer or ("qwen2" if arch == "qwen2" else "default"))
    dt = np.float16 if outtype == "F16" else np.float32
    for key in sorted(weights):
        arr = weights[key].astype(np.float32)
        name = gguf_tensor_name(key)
        if name is None and is_rope_buffer(key):
            continue
        if name is None:
            raise KgcError(f"{folder}: tensor {key} has no GGUF name in the built-in converter")
        stem = name.rsplit(".", 1)[0]
        if lora is not None and name.endswith(".weight") and stem in lora.pairs:
            a, b = lora.pairs[stem]
            arr = (arr.astype(np.float64) + (b.astype(np.float64) @ a.astype(np.float64)) * lora.scale).astype(np.float32)
        arr = rows_in_gguf_order(stem, arr, arch, n_head, n_kv)
        w.add_tensor(name, arr.astype(dt) if arr.ndim >= 2 else arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(out)


def _hf_tokenizer(folder: Path, w, vocab_size: int, pre: str) -> None:
    import gguf
    tok = json.loads((folder / "tokenizer.json").read_text())
    model = tok.get("model", {})
    if model.get("type") != "BPE":
        raise KgcError(f"{folder}: only BPE tokenizers are supported by the built-in converter")
    vocab = model["vocab"]
    added = {t["id"]: t for t in tok.get("added_tokens", [])}
    rev = {i: t for t, i in vocab.items()}
    for i, t in added.items():
        rev[i] = t["content"]
    tokens, types = [], []
    for i in range(vocab_size):
        if i in rev:
            tokens.append(rev[i])
            types.append(gguf.TokenType.CONTROL if i in added and added[i].get("special") else
                         gguf.TokenType.USER_DEFINED if i in added else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(folder, load_merges=True, n_vocab=vocab_size).add_to_gguf(w)
