"""`kgc-lite convert`: merged-GGUF fidelity against transformers with the adapter merged, the Q/K permutation and
the LoRA scale (a wrong one must fail), GGUF LoRA export, the fine-tuned registry model's build, bad input.

Reference: transformers loads the same base GGUF (dequantized), PEFT applies the adapter and merges it; llama.cpp
runs the merged GGUF. Next-token logits are compared on several prompts (Pearson correlation over the vocabulary,
and the top-1 token)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from kgc_lite.errors import KgcError
from kgc_lite.models import merge
from kgc_lite.train import convert as train_convert

from .conftest import ROOT

torch = pytest.importorskip("torch", reason="needs the [train] extra")

PROMPTS = [
    "<|im_start|>user\nWho founded Microsoft?<|im_end|>\n<|im_start|>assistant\n",
    "The capital of France is",
    "<|im_start|>user\nText: John Smith works for Acme Corp in Boston .<|im_end|>\n<|im_start|>assistant\n[[",
    "Adverse effects of aspirin include",
]
SHIPPED = ROOT / "adapters" / "smollm2-135m-kg"


def task_prompts() -> list[str]:
    """Extraction prompts as `extract` builds them for the fine-tuned default (natural, 0 examples)."""
    from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig
    from kgc_lite.schema import load_schema
    cases = [("conll04", "Ann Lee , a spokeswoman for Acme Corp in Boston , said the plant will close ."),
             ("conll04", "The mayor of Springfield was shot by John Doe in 1990 ."),
             ("ade", "Severe hepatitis developed after treatment with isoniazid ."),
             ("scierc", "We use a maximum entropy model for part-of-speech tagging of German text .")]
    out = []
    for schema, text in cases:
        b = PromptBuilder(load_schema(schema), PromptConfig(icl=0))
        out.append(b.prompt(text))
    return out


def corr(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def hf(default_model):
    from kgc_lite.train.loop import BaseModel, load_base
    model, tok = load_base(BaseModel("base", "gguf", str(default_model.path), None, "chatml"), torch.float32)
    model.eval()
    return model


@pytest.fixture(scope="module")
def token_ids(default_model):
    from kgc_lite.runtime.engine import Engine
    eng = Engine(default_model.path, n_ctx=256, n_threads=2)
    ids = [eng.tokenize(p, bos=True) for p in PROMPTS]
    eng.close()
    return ids


def reference_logits(hf, adapter_dir, token_ids):
    """transformers + PEFT, adapter merged into the weights (then unmerged, so the base model is reusable)."""
    from peft import PeftModel
    pm = PeftModel.from_pretrained(hf, str(adapter_dir))
    pm.merge_adapter()
    with torch.no_grad():
        out = [pm(input_ids=torch.tensor([ids])).logits[0, -1].double().numpy() for ids in token_ids]
    pm.unmerge_adapter()
    pm.unload()
    return out


def llama_logits(path, token_ids, lora_path=None):
    from kgc_lite.runtime.engine import Engine
    if lora_path is None:
        eng = Engine(path, n_ctx=256, n_threads=2)
        out = [eng.next_logits(ids).astype(np.float64) for ids in token_ids]
        eng.close()
        return out
    import llama_cpp

    from kgc_lite.runtime.engine import open_llama
    llm = open_llama(model_path=str(path), lora_path=str(lora_path), n_ctx=256, n_threads=2, verbose=False)
    out = []
    for ids in token_ids:
        llm.reset()
        llm.eval(ids)
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        out.append(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float64))
    llm.close()
    return out


def random_adapter(hf, folder: Path, qk_std=0.1, other_std=0.01, seed=0) -> Path:
    """A LoRA whose delta is large on Q and K (so a wrong permutation shows) and mild elsewhere."""
    from peft import LoraConfig, get_peft_model

    from kgc_lite.train.loop import save_adapter
    from kgc_lite.train.options import TARGET_MODULES
    torch.manual_seed(seed)
    pm = get_peft_model(hf, LoraConfig(r=8, lora_alpha=16, target_modules=list(TARGET_MODULES), lora_dropout=0.0))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, qk_std if ("q_proj" in n or "k_proj" in n) else other_std)
    save_adapter(pm, folder, dtype="float32")
    pm.unload()
    return folder


@pytest.fixture(scope="module")
def task_ids(default_model):
    from kgc_lite.runtime.engine import Engine
    eng = Engine(default_model.path, n_ctx=1024, n_threads=2)
    ids = [eng.tokenize(p, bos=True) for p in task_prompts()]
    eng.close()
    return ids


@pytest.fixture(scope="module")
def rand_case(hf, token_ids, tmp_path_factory):
    folder = random_adapter(hf, tmp_path_factory.mktemp("rand") / "adapter")
    return folder, reference_logits(hf, folder, token_ids)


@pytest.mark.slow
def test_merged_f16_matches_transformers_and_wrong_permutation_or_scale_fails(default_model, rand_case, token_ids,
                                                                              tmp_path):
    folder, ref = rand_case
    good = llama_logits(merge.merge_gguf(default_model.path, folder, tmp_path / "f16.gguf", "F16"), token_ids)
    for r, g in zip(ref, good):
        assert corr(r, g) >= 0.999 and r.argmax() == g.argmax()
    nope = llama_logits(merge.merge_gguf(default_model.path, folder, tmp_path / "noperm.gguf", "F16",
                                           permute=False), token_ids)
    assert min(corr(r, g) for r, g in zip(ref, nope)) < 0.999
    lora = merge.read_lora(folder)
    lora.scale *= 2
    scaled = llama_logits(merge.merge_gguf(default_model.path, lora, tmp_path / "scale.gguf", "F16"), token_ids)
    assert min(corr(r, g) for r, g in zip(ref, scaled)) < 0.999


@pytest.mark.slow
def test_gguf_lora_export_matches_merge(default_model, rand_case, token_ids, tmp_path):
    """The exported GGUF LoRA on an F16 base gives the merged model's logits (llama.cpp applies it at run time)."""
    folder, ref = rand_case
    empty = tmp_path / "zero"
    shutil.copytree(folder, empty)
    f16_base = merge.merge_gguf(default_model.path, _zero_adapter(empty), tmp_path / "base16.gguf", "F16")
    lora = merge.export_lora(folder, default_model.path, tmp_path / "lora.gguf")
    got = llama_logits(f16_base, token_ids, lora_path=lora)
    for r, g in zip(ref, got):
        assert corr(r, g) >= 0.999 and r.argmax() == g.argmax()


def _zero_adapter(folder: Path) -> Path:
    """The same adapter with B = 0: merging it writes the plain base as F16."""
    from safetensors.numpy import save_file
    tensors = merge.read_safetensors(folder / "adapter_model.safetensors")
    save_file({k: (np.zeros_like(v) if "lora_B" in k else v).copy() for k, v in tensors.items()},
              str(folder / "adapter_model.safetensors"))
    return folder


@pytest.mark.skipif(not (SHIPPED / "adapter_model.safetensors").exists(), reason="no shipped adapter")
@pytest.mark.slow
def test_shipped_adapter_fidelity_per_quantization(default_model, hf, task_ids, tmp_path):
    """F16: correlation >= 0.999 and the same top-1 on every extraction prompt (the merge is exact). Q8_0: the same
    top-1, every prompt >= 0.998, and the correlation lost to quantizing (1 - corr, mean over the prompts) at most
    1.5x what quantizing the plain base loses on the same prompts. The base alone sits at 0.9988-0.9993 there, so a
    fixed 0.999 would test Q8_0's rounding noise, not the merge; and that noise falls on different prompts for
    different weights, so the comparison is of means, not prompt by prompt. Q4 types: figures reported (-s)."""
    token_ids = task_ids
    ref = reference_logits(hf, SHIPPED, token_ids)
    f16 = merge.merge_gguf(default_model.path, SHIPPED, tmp_path / "m-F16.gguf", "F16")
    figures = {}
    for q in ("F16", "Q8_0", "Q4_K_M", "Q4_0"):
        path = f16 if q == "F16" else merge.quantize(f16, tmp_path / f"m-{q}.gguf", q)
        got = llama_logits(path, token_ids)
        figures[q] = ([round(corr(r, g), 5) for r, g in zip(ref, got)],
                      [bool(r.argmax() == g.argmax()) for r, g in zip(ref, got)])
    zero = tmp_path / "zero"
    shutil.copytree(SHIPPED, zero)
    base_ref = reference_logits(hf, _zero_adapter(zero), token_ids)
    base_q8 = merge.quantize(merge.merge_gguf(default_model.path, zero, tmp_path / "b-F16.gguf", "F16"),
                               tmp_path / "b-Q8_0.gguf", "Q8_0")
    figures["base Q8_0"] = ([round(corr(r, g), 5) for r, g in zip(base_ref, llama_logits(base_q8, token_ids))], [])
    print("fidelity (correlation per prompt, top-1 equal):", json.dumps(figures))
    assert min(figures["F16"][0]) >= 0.999 and all(figures["F16"][1]), figures["F16"]
    assert all(figures["Q8_0"][1]), figures
    assert min(figures["Q8_0"][0]) >= 0.998, figures
    lost = [sum(1 - c for c in figures[k][0]) / len(figures[k][0]) for k in ("Q8_0", "base Q8_0")]
    assert lost[0] <= 1.5 * lost[1], (lost, figures)


@pytest.mark.slow
def test_hf_folder_base(default_model, hf, rand_case, token_ids, tmp_path):
    """An HF folder base: the built-in converter writes llama's permuted Q/K and merges the adapter the same way."""
    folder, ref = rand_case
    base_dir = tmp_path / "hf"
    base_dir.mkdir()
    # A GGUF-loaded model refuses save_pretrained; write the folder a Hub checkpoint would have.
    from safetensors.torch import save_file
    state = {k: v.detach().contiguous() for k, v in hf.state_dict().items()
             if not (k == "lm_head.weight" and hf.config.tie_word_embeddings)}
    save_file(state, str(base_dir / "model.safetensors"), metadata={"format": "pt"})
    hf.config.architectures = hf.config.architectures or ["LlamaForCausalLM"]
    hf.config.to_json_file(str(base_dir / "config.json"))
    from transformers import AutoTokenizer
    p = str(default_model.path)
    AutoTokenizer.from_pretrained(os.path.dirname(p), gguf_file=os.path.basename(p)).save_pretrained(base_dir)
    out = train_convert.convert(folder, str(base_dir), tmp_path / "hf-merged.gguf", "F16", pre_tokenizer="smollm")
    got = llama_logits(out, token_ids)
    for r, g in zip(ref, got):
        assert corr(r, g) >= 0.999 and r.argmax() == g.argmax()


@pytest.mark.slow
def test_full_fine_tune_written_over_the_base_matches_transformers(default_model, hf, token_ids, tmp_path):
    """`train --full` weights (every tensor changed: embedding, norms, Q and K strongly, so a wrong Q/K row order
    shows) written over the base GGUF give transformers' logits for those weights; tensors the fine-tune lacks
    would keep the base's, and a fine-tune of another shape is refused."""
    import copy

    from kgc_lite.train.loop import save_full
    model = copy.deepcopy(hf)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for n, p in model.named_parameters():
            std = 0.05 if ("q_proj" in n or "k_proj" in n) else 0.005
            p.add_(torch.randn(p.shape, generator=gen) * std)
        ref = [model(input_ids=torch.tensor([ids])).logits[0, -1].double().numpy() for ids in token_ids]
    save_full(model, tmp_path / "run", dtype="float32")
    assert merge.is_full_run(tmp_path / "run")
    got = llama_logits(merge.replace_gguf(default_model.path, tmp_path / "run", tmp_path / "full.gguf"), token_ids)
    for r, g in zip(ref, got):
        assert corr(r, g) >= 0.999 and r.argmax() == g.argmax()
    base = llama_logits(default_model.path, token_ids)
    assert min(corr(r, b) for r, b in zip(ref, base)) < 0.999  # the change is big enough to be seen
    from safetensors.numpy import save_file
    w = merge.read_safetensors(tmp_path / "run" / "model.safetensors")
    w["model.layers.0.mlp.up_proj.weight"] = w["model.layers.0.mlp.up_proj.weight"][:, :-1].copy()
    (tmp_path / "bad").mkdir()
    save_file(w, str(tmp_path / "bad" / "model.safetensors"))
    with pytest.raises(KgcError, match=r"does not fit base .*blk\.0\.ffn_up\.weight is"):
        merge.replace_gguf(default_model.path, tmp_path / "bad", tmp_path / "bad.gguf")


# -- bad input ------------------------------------------------------------------------------------------------
def test_bad_adapter_and_base(tmp_path, default_model):
    with pytest.raises(KgcError, match="not a LoRA adapter folder"):
        merge.read_lora(tmp_path)
    with pytest.raises(KgcError, match="unknown quantization"):
        merge.quantize(default_model.path, tmp_path / "x.gguf", "Q3_FOO")
    with pytest.raises(KgcError, match="unknown base model"):
        train_convert.base_gguf("no-such-model")


def test_adapter_for_another_model(tmp_path, default_model):
    from safetensors.numpy import save_file
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 2}))
    save_file({"base_model.model.model.layers.99.self_attn.q_proj.lora_A.weight": np.zeros((2, 576), np.float32),
               "base_model.model.model.layers.99.self_attn.q_proj.lora_B.weight": np.zeros((576, 2), np.float32)},
              str(folder / "adapter_model.safetensors"))
    with pytest.raises(KgcError, match="does not fit base"):
        merge.merge_gguf(default_model.path, folder, tmp_path / "o.gguf")


def test_registry_model_builds_and_verifies(tmp_path, monkeypatch):
    """The fine-tuned default is merged + quantized at first use into KGC_LITE_HOME and checked by sha256."""
    from kgc_lite.models import registry as models
    from kgc_lite.models.resolve import resolve
    default, specs = models.load_registry()
    tuned = [s for s in specs.values() if s.adapter]
    if not tuned:
        pytest.skip("no fine-tuned model in models.toml")
    monkeypatch.setenv("KGC_LITE_HOME", str(tmp_path))
    spec = tuned[0]
    r = resolve(spec.name)
    assert r.path == tmp_path / "models" / f"{spec.name}.gguf" and r.sha256 == spec.sha256
    assert resolve(spec.name).path == r.path  # second time: from the cache


@pytest.mark.slow
def test_registry_model_build_takes_turns_and_replaces_whole(tmp_path, monkeypatch):
    """A builder waits while another holds the build lock (nothing of its own appears meanwhile), and a stale file
    at the final path is replaced whole by a verified one."""
    import fcntl
    import threading
    import time

    from kgc_lite.models import registry as models
    from kgc_lite.models.resolve import resolve
    default, specs = models.load_registry()
    tuned = [s for s in specs.values() if s.adapter]
    if not tuned:
        pytest.skip("no fine-tuned model in models.toml")
    spec = tuned[0]
    monkeypatch.setenv("KGC_LITE_HOME", str(tmp_path))
    folder = tmp_path / "models"
    folder.mkdir()
    final = folder / f"{spec.name}.gguf"
    final.write_bytes(b"GGUF" + bytes(1000))  # an older build: the right header, the wrong content
    lock = folder / f"{spec.name}.gguf.lock"
    result: dict = {}

    def build():
        try:
            result["resolved"] = resolve(spec.name)
        except Exception as exc:  # reported by the assertion below
            result["error"] = exc

    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is building
        worker = threading.Thread(target=build)
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive(), result
        assert sorted(p.name for p in folder.iterdir()) == sorted([final.name, lock.name])  # no temp file yet
        assert final.stat().st_size == 1004
    worker.join(300)
    assert "error" not in result, result.get("error")
    assert result["resolved"].path == final and result["resolved"].sha256 == spec.sha256
    assert sorted(p.name for p in folder.iterdir()) == sorted([final.name, lock.name])  # the temp folder is gone
