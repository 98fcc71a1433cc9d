"""LoRA (or, with `--full`, full) supervised fine-tuning for triplet extraction (`kgc-lite train`; needs the
`[train]` extra). This module loads the base, runs the steps and saves adapters and checkpoints; what each step
trains on (data sets, samples, the seeded plan of steps) is kgc_lite/train/samples.py.

The training prompts are the very prompts `extract` sends: one `PromptBuilder` per sample, the same style,
in-context examples, rationale option and chat format, tokenized the way the llama.cpp engine tokenizes them
(prefix with BOS, the user's text with control tokens off, the template remainder with them on). The target is
`PromptBuilder.answer(triplets)` followed by `end_of_answer(format)`; the loss covers those tokens only. Each
sample is its own sequence (no packing); a step's samples are padded per micro-batch.

With `--task qa4re` the samples are QA4RE questions instead (kgc_lite/train/qa4re_samples.py: `training_questions`, the
`QAPrompt` inference sends, tokenized in the same three parts) and the target is the gold option's letter alone.
The LM head is applied only at target positions, which for a one-letter answer skips nearly all of its cost.
With `--task both` one adapter learns the two: `--data` gives the triplet samples and `--qa-data` the QA4RE
questions (their data sets named `qa:semeval`, `qa:fewrel`, ... in `--mix` and the run card), each step drawn
from one data set of either task. That is the "one model or two" question of shipping (issue 11).

In-context examples are drawn per sample from the same data set's training split with a seed derived from the
run's seed and the sample's index, so a run is reproducible and the model sees many different shots.

With multi-schema data (`--data fewrel`, `--data kgc,fewrel,wikizsl`; kgc_lite/train/schema_mix.py) every sample has
its own schema (relations shuffled, distractors, other names, empty answers, detokenized copies), and samples are
tokenized when a step first asks for them rather than all up front (there are a few hundred thousand).

The base model is a registry name (e.g. `smollm2-135m`, the embedded default), a GGUF file (transformers
dequantizes it), a local Hugging Face folder, or a hub id. Heavy imports (torch, transformers, peft) happen
inside functions only.

Outputs in the run folder: `adapter_config.json` + `adapter_model.safetensors` (PEFT format, fp16), `run_card.json`
(base and its sha256, data files and their sha256, every option, the loss curve, timings), and `checkpoint/`
(adapter, optimizer, scheduler and RNG state) from which `--resume` continues. A `--full` run writes
`model.safetensors` (every weight, fp16, Hugging Face names) instead of the adapter; `kgc-lite convert` writes it
over the base's GGUF (convert.replace_gguf).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from kgc_lite.errors import KgcError
from kgc_lite.io.files import file_sha256
from kgc_lite.models.merge import FULL_WEIGHTS, is_rope_buffer
from kgc_lite.prompting.prompts import PromptConfig
from kgc_lite.train.options import TARGET_MODULES, TrainOptions
from kgc_lite.train.samples import (
    IGNORE,
    Sample,
    Tokens,
    load_sources,
    make_both_samples,
    make_qa_samples,
    make_samples,
    mix_weights,
    order,
)


# -- model -----------------------------------------------------------------------------------------------
@dataclass
class BaseModel:
    ref: str            # what the user named
    kind: str           # gguf / folder / hub
    path: str           # file, folder or hub id
    sha256: str | None
    prompt_format: str


def resolve_base(base: str | None) -> BaseModel:
    """Where the base model's weights are: registry name, GGUF file, HF folder or hub id."""
    from kgc_lite.models import registry as models
    from kgc_lite.models.resolve import resolve
    if base is None:  # the default model; if that is itself fine-tuned, its base
        base = models.spec_for(None).base or models.load_registry()[0]
    if base is None or (not os.path.exists(base) and "/" not in base and not base.endswith(".gguf")):
        try:
            r = resolve(base)
        except KgcError as exc:
            raise KgcError(f"unknown base model {base!r}: {exc}") from None
        return BaseModel(base or r.spec.name, "gguf", str(r.path), r.sha256, r.spec.prompt_format)
    p = Path(base)
    if p.is_file():
        models.check_gguf_header(p)
        return BaseModel(base, "gguf", str(p), file_sha256(p), "chatml")
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise KgcError(f"base model folder {base} has no config.json (expected a Hugging Face model folder)")
        return BaseModel(base, "folder", str(p), _folder_sha256(p), "chatml")
    if base.endswith(".gguf"):
        raise KgcError(f"base model file {base} does not exist")
    return BaseModel(base, "hub", base, None, "chatml")


def _folder_sha256(folder: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f.name.encode())
        h.update(file_sha256(f).encode())
    return h.hexdigest()


def load_base(base: BaseModel, dtype):
    """(model, tokenizer) in transformers; a GGUF is dequantized on load."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    try:
        if base.kind == "gguf":
            folder, name = os.path.dirname(os.path.abspath(base.path)), os.path.basename(base.path)
            tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype)
        else:
            tok = AutoTokenizer.from_pretrained(base.path)
            model = AutoModelForCausalLM.from_pretrained(base.path, dtype=dtype)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KgcError(f"cannot load base model {base.ref!r} with transformers: {first}") from None
    return model, tok


def pick_device(opts: TrainOptions):
    import torch
    want = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if want == "cuda" and not torch.cuda.is_available():
        raise KgcError("--device cuda asked for, but torch sees no CUDA GPU")
    if opts.dtype not in ("auto", "float32", "bfloat16"):
        raise KgcError(f"--dtype must be auto, float32 or bfloat16 (got {opts.dtype!r})")
    if opts.dtype != "auto":
        dtype = getattr(torch, opts.dtype)
    elif want == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    else:
        dtype = torch.float32
    return torch.device(want), dtype


# -- training --------------------------------------------------------------------------------------------
def _pad(batch: list[Sample], pad_id: int, device):
    import torch
    n = max(len(s.input_ids) for s in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for row, s in enumerate(batch):
        ids[row, : len(s.input_ids)] = torch.tensor(s.input_ids)
        labels[row, : len(s.labels)] = torch.tensor(s.labels)
        mask[row, : len(s.input_ids)] = 1
    return ids.to(device), labels.to(device), mask.to(device)


def _step_loss(model, samples: list[Sample], micro: int, pad_id: int, device, share: bool = True) -> float:
    """Forward + backward over one step's samples in length-sorted micro-batches; the loss is the mean over
    all target tokens of the step (not a mean of micro-batch means).

    Samples that share a prompt prefix (same data set, no per-sample in-context examples) run the prefix once
    per micro-batch and attend to its keys/values, expanded over the batch; gradients flow back through it.
    The result equals the unshared computation (checked in tests/test_train.py) at a fraction of the cost:
    the schema instruction is most of a zero-shot prompt."""
    ordered = sorted(samples, key=lambda s: len(s.input_ids))
    total_targets = sum(sum(1 for x in s.labels if x != IGNORE) for s in ordered)
    total = 0.0
    for k in range(0, len(ordered), micro):
        chunk = ordered[k:k + micro]
        p = chunk[0].prefix_len
        if share and p and all(s.prefix_len == p and s.input_ids[:p] == chunk[0].input_ids[:p] for s in chunk):
            loss_sum = _shared_loss_sum(model, chunk, p, pad_id, device)
        else:
            loss_sum = _loss_sum(model, chunk, pad_id, device)
        (loss_sum / total_targets).backward()
        total += float(loss_sum.detach())
    return total / total_targets


def _loss_sum(model, chunk: list[Sample], pad_id: int, device):
    ids, labels, mask = _pad(chunk, pad_id, device)
    return _target_loss_sum(model, labels, input_ids=ids, attention_mask=mask)


def _causal(model):
    """The causal LM under a PEFT wrapper (its `.model` body and `.lm_head` are called separately)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _target_loss_sum(model, labels, **inputs):
    """Summed cross-entropy over the target positions, projecting only those positions onto the vocabulary:
    the LM head is skipped for prompt tokens (for a one-letter QA4RE answer that is nearly every position)."""
    import torch
    causal = _causal(model)
    hidden = causal.model(**inputs).last_hidden_state[:, :-1, :]
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = causal.lm_head(hidden[keep]).float()
    cap = getattr(causal.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")


def _shared_loss_sum(model, chunk: list[Sample], p: int, pad_id: int, device):
    import inspect

    import torch
    b = len(chunk)
    causal = _causal(model)
    params = inspect.signature(causal.model.forward).parameters
    cache_kw = "cache" if "cache" in params else "past_key_values"  # transformers 5 renamed it
    prefix = torch.tensor([chunk[0].input_ids[:p]], device=device)
    first = causal.model(input_ids=prefix, use_cache=True)  # the prefix holds no targets: no LM head
    cache = getattr(first, "cache", None) or first.past_key_values
    for layer in cache.layers:
        layer.keys = layer.keys.expand(b, -1, -1, -1)
        layer.values = layer.values.expand(b, -1, -1, -1)
    rest = [Sample(s.dataset, s.index, s.input_ids[p:], s.labels[p:]) for s in chunk]
    ids, labels, mask = _pad(rest, pad_id, device)
    n = ids.shape[1]
    full_mask = torch.cat([torch.ones((b, p), dtype=mask.dtype, device=device), mask], dim=1)
    positions = torch.arange(p, p + n, device=device)
    extra = {"cache_position": positions} if "cache_position" in params else {}
    # The prefix's last position predicts the first token after it: always prompt, never a target.
    return _target_loss_sum(model, labels, input_ids=ids, attention_mask=full_mask, use_cache=True,
                            position_ids=positions.expand(b, n), **{cache_kw: cache}, **extra)


def _oom_hint(exc: BaseException, opts: TrainOptions) -> KgcError:
    return KgcError(f"out of memory while training ({str(exc).splitlines()[0][:120]}); lower --micro-batch "
                    f"(now {opts.micro_batch}) or --max-length (now {opts.max_length}), or use fewer --icl examples")


def train(opts: TrainOptions, out: str | Path, resume: bool = False,
          log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> Path:
    """Run LoRA SFT; returns the run folder. Raises KgcError on bad input."""
    for name, value, low in (("--rank", opts.rank, 1), ("--steps", opts.steps, 1), ("--batch", opts.batch, 1),
                             ("--micro-batch", opts.micro_batch, 1), ("--max-length", opts.max_length, 16)):
        if value < low:
            raise KgcError(f"{name} must be >= {low}")
    PromptConfig(style=opts.style, icl=opts.icl, rationale=opts.rationale)  # validates style / icl
    if opts.qa_answer not in ("logits", "entail"):
        raise KgcError(f"--answer must be logits or entail (got {opts.qa_answer!r})")
    if opts.task == "qa4re" and (opts.icl or opts.rationale):
        raise KgcError("--task qa4re asks zero-shot questions answered by one letter: pass --icl 0 and no "
                       "--rationale")
    out = Path(out)
    ckpt = out / "checkpoint"
    if not resume and (out / "run_card.json").exists():
        raise KgcError(f"{out} already holds a finished run; pick another --out or pass --resume")
    if resume and ckpt.is_dir():
        saved = json.loads((ckpt / "options.json").read_text())
        if saved.get("init_adapter") and not opts.init_adapter and not opts.start_step:
            # a run begun with --init-adapter/--start-step goes on with them: the schedule is entered at that
            # step, and the checkpoint's weights replace the adapter's anyway
            opts = replace(opts, init_adapter=saved["init_adapter"], start_step=saved.get("start_step", 0))
            log(f"resuming the run begun from {opts.init_adapter} at step {opts.start_step}")
        mine = _comparable(asdict(opts))
        if _comparable(saved) != mine:
            diff = sorted(k for k in mine if mine.get(k) != saved.get(k))
            raise KgcError(f"cannot resume {out}: options differ from the checkpoint's ({', '.join(diff)})")
    if opts.skip_steps < 0:
        raise KgcError("--skip-steps must be >= 0")
    if opts.start_step and not opts.init_adapter:
        raise KgcError("--start-step N goes on with a run from its adapter at step N: give --init-adapter too")
    if not 0 <= opts.start_step < opts.steps:
        raise KgcError(f"--start-step must be in 0..{opts.steps - 1} (--steps {opts.steps})")
    if opts.full and opts.init_adapter:
        raise KgcError("--init-adapter starts a LoRA run from an adapter; a full fine-tune (--full) starts from "
                       "--base (a merged .gguf works: `kgc-lite convert` writes one)")
    init = _check_init_adapter(opts) if opts.init_adapter else None
    init_sha = None  # the init adapter as it was when the run began (a campaign's snapshot is rewritten since)
    sources = load_sources(opts)
    mix_weights(opts.mix, {s.name: 1 for s in sources})     # form and names, checked before the model loads
    base = resolve_base(opts.base)
    fmt = opts.format or base.prompt_format

    try:
        import torch
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    except ImportError as exc:
        raise KgcError(f"training needs the [train] extra (pip install 'kgc-lite[train]'): {exc}") from None
    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    device, dtype = pick_device(opts)
    log(f"loading base {base.ref} ({base.kind}) on {device} as {str(dtype).replace('torch.', '')}")
    t0 = time.perf_counter()
    model, tok = load_base(base, dtype)
    tokens = Tokens(tok)
    make = {"qa4re": make_qa_samples, "both": make_both_samples}.get(opts.task, make_samples)
    samples = make(sources, opts, tokens, fmt, log)
    probe = samples if isinstance(samples, list) else [samples[i] for i in range(0, len(samples),
                                                                                max(1, len(samples) // 200))]
    lengths = sorted(len(s.input_ids) for s in probe)
    log(f"{len(samples)} samples from {', '.join(s.name for s in sources)}; tokens per sample"
        f"{'' if probe is samples else f' (in {len(probe)} of them)'}: median {lengths[len(lengths) // 2]}, "
        f"max {lengths[-1]}")
    present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [m for m in TARGET_MODULES if m in present]
    if not targets:
        raise KgcError(f"base model {base.ref} has none of the projections LoRA targets ({', '.join(TARGET_MODULES)})")
    if not opts.full:
        lcfg = LoraConfig(r=opts.rank, lora_alpha=opts.alpha, lora_dropout=opts.dropout, target_modules=targets,
                          bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(model, lcfg)
    if init is not None:
        from safetensors.torch import load_file
        set_peft_model_state_dict(model, load_file(str(init / "adapter_model.safetensors")))
        log(f"LoRA weights from {init}")
    model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.0)

    def lr_at(step: int) -> float:  # linear warm-up, then linear decay to 0
        if step < opts.warmup:
            return (step + 1) / opts.warmup
        return max(0.0, (opts.steps - step) / max(1, opts.steps - opts.warmup))
    # --start-step: the same plan and schedule, entered at step N (the optimizer's moments start afresh).
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: lr_at(s + opts.start_step))
    plan = order(samples, opts.skip_steps + opts.steps, opts.batch, opts.seed, opts.mix)[opts.skip_steps:]
    curve: list[dict] = []
    start_step = opts.start_step
    elapsed_before = 0.0
    if resume and ckpt.is_dir():
        from safetensors.torch import load_file
        if opts.full:
            _load_full(model, ckpt)
        else:
            set_peft_model_state_dict(model, load_file(str(ckpt / "adapter_model.safetensors")))
        state = torch.load(ckpt / "state.pt", weights_only=False)
        optim.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["torch_rng"])
        curve, start_step, elapsed_before = state["curve"], state["step"], state.get("seconds", 0.0)
        init_sha = state.get("init_sha256")
        log(f"resumed from step {start_step}")
    if init is not None and init_sha is None:
        init_sha = file_sha256(init / "adapter_model.safetensors")
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    what = "full fine-tune" if opts.full else f"LoRA r={opts.rank} alpha={opts.alpha} on {', '.join(targets)}"
    log(f"{what}: {sum(p.numel() for p in params) / 1e6:.2f}M trainable parameters; "
        f"loaded in {time.perf_counter() - t0:.0f}s")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    with _StopOnTerm() as term:
        for step in range(start_step, opts.steps):
            t = time.perf_counter()
            try:
                loss = _step_loss(model, [samples[i] for i in plan[step]], opts.micro_batch, pad_id, device)
            except KeyboardInterrupt:
                optim.zero_grad(set_to_none=True)
                if curve and step > start_step:
                    _save_checkpoint(model, optim, sched, ckpt, opts, curve, step,
                                     elapsed_before + time.perf_counter() - t_start, init_sha)
                raise _stopped("interrupted", step, step if step > start_step else start_step, ckpt, out) from None
            except (RuntimeError, MemoryError) as exc:
                if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
                    raise _oom_hint(exc, opts) from None
                raise
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            curve.append({"step": step + 1, "loss": round(loss, 5), "lr": optim.param_groups[0]["lr"],
                          "seconds": round(time.perf_counter() - t, 2)})
            done = step + 1
            spent = elapsed_before + time.perf_counter() - t_start
            eta = (time.perf_counter() - t_start) / (done - start_step) * (opts.steps - done)
            log(f"step {done}/{opts.steps} loss {loss:.4f} ({curve[-1]['seconds']:.1f}s; {spent / 60:.1f} min, "
                f"eta {eta / 60:.1f} min)")
            if done % opts.save_every == 0 or done == opts.steps or term.asked:
                _save_checkpoint(model, optim, sched, ckpt, opts, curve, done, spent, init_sha)
            if term.asked and done < opts.steps:
                raise _stopped("stopped by SIGTERM", done, done, ckpt, out)
    seconds = elapsed_before + time.perf_counter() - t_start
    save_weights(model, out, opts.full)
    card = {
        "kind": "kgc-lite full fine-tune" if opts.full else "kgc-lite LoRA adapter",
        "base": {"ref": base.ref, "kind": base.kind, "path": base.path, "sha256": base.sha256},
        "task": opts.task,
        "data": [{"name": s.name, "path": str(s.path), "sha256": file_sha256(s.path), "schema": s.schema.name,
                  **({"questions": s.questions} if s.qa else {"sentences": len(s.examples)})}
                 for s in sources],
        "samples": len(samples),
        **({"multi_schema": sources[0].multi.describe(), "replaced_too_long": samples.replaced}
           if sources and sources[0].multi is not None else {}),
        **({"init_adapter": {"path": str(init), "sha256": init_sha}}
           if init is not None else {}),
        "options": asdict(opts) | {"format": fmt},
        **({} if opts.full else {"target_modules": targets}),
        "device": str(device), "dtype": str(dtype).replace("torch.", ""),
        "train_seconds": round(seconds, 1),
        "final_loss": curve[-1]["loss"] if curve else None,
        "loss_curve": curve,
        "versions": _versions(),
    }
    (out / "run_card.json").write_text(json.dumps(card, indent=1))
    weights = FULL_WEIGHTS if opts.full else "adapter_model.safetensors"
    log(f"wrote {out / weights} and {out / 'run_card.json'} ({seconds / 60:.1f} min)")
    return out


class _StopOnTerm:
    """SIGTERM (a scheduler's preemption, `timeout`, `kill`) asks the run to stop after the step under way,
    with a checkpoint, instead of ending it where it stands. Only in the main thread, where handlers can be set."""

    def __init__(self):
        self.asked = False
        self._old = None

    def __enter__(self):
        import signal
        import threading
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._ask)
        return self

    def _ask(self, signum, frame):
        self.asked = True

    def __exit__(self, *exc):
        if self._old is not None:
            import signal
            signal.signal(signal.SIGTERM, self._old)


def _stopped(how: str, step: int, held: int, ckpt: Path, out: Path) -> KgcError:
    if held == 0:
        return KgcError(f"{how} during the first step; nothing was saved in {out}")
    return KgcError(f"{how} at step {step}; the checkpoint in {ckpt} holds step {held}, and --resume continues "
                    "from it")


def _check_init_adapter(opts: TrainOptions) -> Path:
    """The --init-adapter folder, read by the converter's adapter reader (the same checks as `convert`) and
    held to this run's rank and alpha, before anything heavy loads: another alpha would rescale the adapter's
    update (alpha 16 on an alpha-32 adapter halves it) before the first step."""
    from kgc_lite.models.merge import read_lora
    folder = Path(opts.init_adapter)
    lora = read_lora(folder)
    if lora.rank != opts.rank:
        raise KgcError(f"--init-adapter {folder} has rank {lora.rank}, this run --rank {opts.rank}: "
                       f"pass --rank {lora.rank}")
    if lora.alpha != opts.alpha:
        raise KgcError(f"--init-adapter {folder} has alpha {lora.alpha:g}, this run --alpha {opts.alpha:g}: "
                       f"pass --alpha {lora.alpha:g}")
    return folder


def _comparable(d: dict) -> dict:
    d = {**asdict(TrainOptions()), **d}  # options added since a checkpoint was written take their defaults
    for k in ("save_every", "threads", "steps"):  # may change between a run and its resumption
        d.pop(k, None)
    return {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in d.items()}  # JSON gives lists


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("torch", "transformers", "peft"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return out


def save_adapter(model, out: Path, dtype: str = "float16") -> None:
    """The adapter in PEFT format (adapter_config.json + adapter_model.safetensors), fp16 by default."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model)
    cast = getattr(torch, dtype)
    save_file({k: v.detach().to("cpu", cast).contiguous() for k, v in state.items()},
              str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    model.peft_config["default"].save_pretrained(str(out))


def save_weights(model, out: Path, full: bool, dtype: str = "float16") -> None:
    """What a run trains: the whole model (--full) or the adapter."""
    (save_full if full else save_adapter)(model, out, dtype)


def save_full(model, out: Path, dtype: str = "float16") -> None:
    """A full fine-tune's weights as model.safetensors in Hugging Face names (fp16 by default; a tied LM head
    is the embedding and is not written twice). `kgc-lite convert` writes them over the base GGUF."""
    import torch
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    cast = getattr(torch, dtype)
    state = {k: v.detach().to("cpu", cast).contiguous() for k, v in model.state_dict().items()
             if not (tied and k == "lm_head.weight") and not is_rope_buffer(k)}
    save_file(state, str(out / FULL_WEIGHTS), metadata={"format": "pt"})


def _load_full(model, folder: Path) -> None:
    import torch
    from safetensors.torch import load_file
    state = load_file(str(folder / FULL_WEIGHTS))
    missing, unexpected = model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if k != "lm_head.weight" and not is_rope_buffer(k)]
    if missing or unexpected:
        raise KgcError(f"{folder}: {FULL_WEIGHTS} does not fit the base ({(missing + unexpected)[0]} ...)")


def _save_checkpoint(model, optim, sched, ckpt: Path, opts: TrainOptions, curve, step: int, seconds: float,
                     init_sha: str | None = None) -> None:
    import torch
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_weights(model, tmp, opts.full, dtype="float32")
    torch.save({"optim": optim.state_dict(), "sched": sched.state_dict(), "torch_rng": torch.get_rng_state(),
                "curve": curve, "step": step, "seconds": seconds, "init_sha256": init_sha}, tmp / "state.pt")
    (tmp / "options.json").write_text(json.dumps(asdict(opts) | {"data": list(opts.data)}, indent=1))
    if ckpt.exists():
        import shutil
        shutil.rmtree(ckpt)
    tmp.rename(ckpt)
