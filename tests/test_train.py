"""`kgc-lite train`: a tiny real run on the CPU (train -> resume -> convert -> quantize -> llama.cpp -> extract),
training-sample construction against the extraction prompts, the shared-prefix loss, and bad input."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from kgc_lite.errors import KgcError
from kgc_lite.io.files import file_sha256
from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig, end_of_answer
from kgc_lite.schema import load_schema
from kgc_lite.types import Example, Triplet

from .conftest import run_cli

torch = pytest.importorskip("torch", reason="needs the [train] extra")
from kgc_lite.train import loop as tr  # noqa: E402
from kgc_lite.train import samples as td  # noqa: E402

SENTENCES = [
    ("Ann Lee works for Acme Corp in Boston .", [["Ann Lee", "Work_for", "Acme Corp"],
                                                 ["Acme Corp", "Organization_based_in", "Boston"]]),
    ("Bob Stone , a lawyer at Hill & Co , lives in Denver .", [["Bob Stone", "Work_for", "Hill & Co"],
                                                               ["Bob Stone", "Live_in", "Denver"]]),
    ("Paris is in France .", [["Paris", "Located_in", "France"]]),
    ("Carl Moss killed Dan Ross in Reno .", [["Carl Moss", "Kill", "Dan Ross"]]),
    ("Eve Park joined Zeta Labs , based in Austin .", [["Eve Park", "Work_for", "Zeta Labs"],
                                                       ["Zeta Labs", "Organization_based_in", "Austin"]]),
    ("The weather was fine .", []),
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps({"text": t, "triplets": tr_}) + "\n" for t, tr_ in rows))
    return path


def tiny(data, **kw):
    base = dict(data=(str(data),), schema="conll04", icl=1, rank=4, alpha=8, steps=2, batch=2, micro_batch=2,
                max_length=320, save_every=1, threads=2, warmup=1, lr=1e-3)
    base.update(kw)
    return tr.TrainOptions(**base)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    data = write_jsonl(folder / "tiny.jsonl", SENTENCES)
    out = folder / "run"
    logs: list[str] = []
    tr.train(tiny(data), out, log=logs.append)
    first_curve = json.loads((out / "run_card.json").read_text())["loss_curve"]
    # Resume the finished run for one more step: it must continue from the checkpoint, not start again.
    tr.train(tiny(data, steps=3), out, resume=True, log=logs.append)
    return out, data, logs, first_curve


@pytest.mark.slow
def test_run_card_and_adapter(tiny_run):
    out, data, logs, first_curve = tiny_run
    card = json.loads((out / "run_card.json").read_text())
    assert card["base"]["sha256"] and len(card["base"]["sha256"]) == 64
    assert card["data"][0]["sha256"] and card["data"][0]["sentences"] == len(SENTENCES)
    assert card["options"]["rank"] == 4 and card["options"]["icl"] == 1 and card["options"]["format"] == "chatml"
    assert [c["step"] for c in card["loss_curve"]] == [1, 2, 3]
    assert card["loss_curve"][:2] == first_curve  # resumed, not restarted
    assert any("resumed from step 2" in m for m in logs)
    assert all(c["loss"] > 0 for c in card["loss_curve"])
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and set(cfg["target_modules"]) == set(tr.TARGET_MODULES)
    assert (out / "adapter_model.safetensors").stat().st_size < 5_000_000  # fp16, rank 4


@pytest.mark.slow
def test_convert_quantize_load_and_extract(tiny_run, tmp_path):
    from kgc_lite.extract.extractor import ExtractOptions, Extractor
    from kgc_lite.models import merge
    from kgc_lite.train import convert as train_convert
    out, *_ = tiny_run
    gguf_path = train_convert.convert(out, None, tmp_path / "tiny-q8.gguf", "Q8_0")
    ex = Extractor(str(gguf_path), "conll04", ExtractOptions(icl=0, max_tokens=64), n_ctx=1024, n_threads=2)
    triplets = ex.extract("Ann Lee works for Acme Corp in Boston .")
    assert isinstance(triplets, list)  # grammar-constrained: whatever it says is schema-valid
    assert all(t.relation in ex.schema.relation_names for t in triplets)
    # the file names the prompt it was trained with, and --model path.gguf defaults to it
    from kgc_lite.models.resolve import resolve
    assert merge.read_prompt_metadata(gguf_path) == {"prompt_style": "natural", "icl": 1, "tokenized_text": False}
    spec = resolve(str(gguf_path)).spec
    assert (spec.prompt_style, spec.icl) == ("natural", 1)


@pytest.mark.slow
def test_cli_convert_lora_only_and_runtime_load(tiny_run, tmp_path):
    from kgc_lite.runtime.engine import open_llama
    out, *_ = tiny_run
    lora = tmp_path / "tiny-lora.gguf"
    r = run_cli("convert", str(out), "--lora-only", "--out", str(lora))
    assert r.returncode == 0, r.stderr.decode()
    from kgc_lite.models.resolve import resolve
    llm = open_llama(model_path=str(resolve(None).path), lora_path=str(lora), n_ctx=256, verbose=False)
    assert llm.create_completion("Paris is", max_tokens=2)["choices"][0]["text"] is not None


@pytest.mark.slow
def test_sigterm_stops_after_the_step_with_a_checkpoint_and_resume_finishes(tmp_path):
    """`timeout`, `kill` or a scheduler's preemption: the run ends after the step under way, saved, not where
    it stands (save_every 10 would have saved nothing before step 3)."""
    data = write_jsonl(tmp_path / "tiny.jsonl", SENTENCES)
    out = tmp_path / "run"
    outer = []
    previous = signal.signal(signal.SIGTERM, lambda *a: outer.append(a))   # what train() must put back

    def log(message):
        if message.startswith("step 1/"):
            os.kill(os.getpid(), signal.SIGTERM)
    try:
        with pytest.raises(KgcError, match=r"^stopped by SIGTERM at step 1; the checkpoint in .* holds step 1, and "
                                           r"--resume continues from it$"):
            tr.train(tiny(data, steps=3, save_every=10), out, log=log)
        assert not outer and signal.getsignal(signal.SIGTERM) is not previous
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not (out / "run_card.json").exists()
    assert torch.load(out / "checkpoint" / "state.pt", weights_only=False)["step"] == 1
    logs: list[str] = []
    tr.train(tiny(data, steps=3, save_every=10), out, resume=True, log=logs.append)
    assert "resumed from step 1" in logs
    assert [c["step"] for c in json.loads((out / "run_card.json").read_text())["loss_curve"]] == [1, 2, 3]


def test_training_prompts_are_the_extraction_prompts(default_model):
    """The sample's tokens are the engine's tokens of PromptBuilder's prompt, then the answer + end marker."""
    import os

    from transformers import AutoTokenizer

    from kgc_lite.extract.extractor import ExtractOptions, Extractor
    from kgc_lite.runtime.engine import Engine
    p = str(default_model.path)
    tok = td.Tokens(AutoTokenizer.from_pretrained(os.path.dirname(p), gguf_file=os.path.basename(p)))
    schema = load_schema("conll04")
    ex = Example(SENTENCES[0][0], tuple(Triplet(*t) for t in SENTENCES[0][1]))
    builder = PromptBuilder(schema, PromptConfig(icl=3), schema.examples)
    prompt, target = td.build_sample(builder, ex, tok, {})
    engine = Engine(p, n_ctx=2048, n_threads=1)
    extractor = Extractor(None, schema, ExtractOptions(icl=3), engine=engine, resolved=default_model)
    assert prompt == extractor.prompt_tokens(ex.text)
    assert target == engine.tokenize(builder.answer(ex.triplets) + end_of_answer("chatml"))


def conll04_samples(n: int):
    """The base model, its tokenizer, and 0-ICL CoNLL04 training samples of the first n SENTENCES."""
    model, tok = tr.load_base(tr.resolve_base(None), torch.float32)
    schema = load_schema("conll04")
    src = td.DataSource("conll04", None, schema, [Example(t, tuple(Triplet(*x) for x in trs)) for t, trs in SENTENCES[:n]])
    opts = tr.TrainOptions(data=("conll04",), icl=0)
    return model, tok, td.make_samples([src], opts, td.Tokens(tok), "chatml", lambda m: None)


@pytest.mark.slow
def test_shared_prefix_loss_equals_plain_loss(default_model):
    from peft import LoraConfig, get_peft_model
    model, tok, samples = conll04_samples(4)
    assert all(s.prefix_len > 50 for s in samples)
    torch.manual_seed(0)
    m = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    results = []
    for share in (False, True):
        m.zero_grad()
        loss = tr._step_loss(m, samples, 4, tok.eos_token_id, "cpu", share=share)
        results.append((loss, [p.grad.clone() for p in m.parameters() if p.requires_grad]))
    assert abs(results[0][0] - results[1][0]) < 1e-5
    assert max(float((a - b).abs().max()) for a, b in zip(results[0][1], results[1][1])) < 1e-4


def test_order_is_seeded_and_one_dataset_per_step():
    samples = [td.Sample("a" if i < 30 else "b", i, [1], [1]) for i in range(40)]
    plan = td.order(samples, 20, 4, seed=3)
    assert plan == td.order(samples, 20, 4, seed=3)
    assert all(len({samples[i].dataset for i in step}) == 1 for step in plan)


# -- bad input ------------------------------------------------------------------------------------------------
def test_unknown_base(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", SENTENCES)
    with pytest.raises(KgcError, match="unknown base model 'no-such-model'"):
        tr.train(tiny(data, base="no-such-model"), tmp_path / "o")
    with pytest.raises(KgcError, match="does not exist"):
        tr.train(tiny(data, base=str(tmp_path / "missing.gguf")), tmp_path / "o")


def test_data_without_triplets(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [(t, []) for t, _ in SENTENCES])
    with pytest.raises(KgcError, match="holds no triplets"):
        tr.train(tiny(data), tmp_path / "o")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no triplets key"}\n')
    with pytest.raises(KgcError, match="triplets"):
        tr.train(tiny(bad), tmp_path / "o")


def test_schema_data_mismatch(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", SENTENCES + [("X cures Y .", [["X", "Cures", "Y"]])])
    with pytest.raises(KgcError, match="relations that schema 'conll04' lacks: Cures"):
        tr.train(tiny(data), tmp_path / "o")
    with pytest.raises(KgcError, match="needs --schema"):
        tr.train(tiny(data, schema=None), tmp_path / "o")


def test_unknown_data_name(tmp_path):
    with pytest.raises(KgcError, match="neither a data set name"):
        tr.train(tr.TrainOptions(data=("conll05",)), tmp_path / "o")


def test_mix_names_checked_before_the_model_loads(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", SENTENCES)
    # an unknown base would fail later: the mix error must come first
    with pytest.raises(KgcError, match="exactly: d"):
        tr.train(tiny(data, mix="scierc=1", base="no-such-model"), tmp_path / "o")
    with pytest.raises(KgcError, match="--mix must be size, equal or weights"):
        tr.train(tiny(data, mix="d=", base="no-such-model"), tmp_path / "o")


def test_oom_hint():
    msg = str(tr._oom_hint(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), tr.TrainOptions()))
    assert "out of memory" in msg and "--micro-batch" in msg and "--max-length" in msg


def test_cli_errors_are_one_line(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [(t, []) for t, _ in SENTENCES])
    r = run_cli("train", "--data", str(data), "--schema", "conll04", "--out", str(tmp_path / "o"))
    assert r.returncode == 1
    err = r.stderr.decode().strip()
    assert err.startswith("kgc-lite: error:") and "holds no triplets" in err and "Traceback" not in err
    r = run_cli("convert", str(tmp_path), "--out", str(tmp_path / "x.gguf"))
    assert r.returncode == 1 and "is not a LoRA adapter folder" in r.stderr.decode()


@pytest.mark.slow
def test_target_only_lm_head_equals_full_logits_loss(default_model):
    """_loss_sum projects only the target positions onto the vocabulary; the loss is the full-logits one."""
    model, tok, samples = conll04_samples(3)
    ids, labels, mask = tr._pad(samples, tok.eos_token_id, "cpu")
    with torch.no_grad():
        mine = float(tr._loss_sum(model, samples, tok.eos_token_id, "cpu"))
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1, :]
        full = float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                       ignore_index=td.IGNORE, reduction="sum"))
    assert full > 1 and abs(mine - full) / full < 1e-5


@pytest.mark.slow
def test_qa4re_samples_are_the_inference_questions(default_model):
    """--task qa4re: each sample is QA4RE.tokens() of its question (engine tokenization) plus the gold letter."""
    import os

    from transformers import AutoTokenizer

    from kgc_lite.qa4re.classifier import QA4RE
    from kgc_lite.runtime.engine import Engine
    from kgc_lite.train.qa4re_samples import training_questions

    from .test_qa4re import _has_data
    if not _has_data():
        pytest.skip("benchmark data not found")
    p = str(default_model.path)
    tok = td.Tokens(AutoTokenizer.from_pretrained(os.path.dirname(p), gguf_file=os.path.basename(p)))
    opts = tr.TrainOptions(task="qa4re", data=("semeval", "conll04"), icl=0)
    sources = td.load_sources(opts)
    samples = td.make_qa_samples(sources, opts, tok, "chatml", lambda m: None)
    questions = list(training_questions(["semeval", "conll04"]))
    assert len(samples) == len(questions) == sum(s.questions for s in sources)
    qa = QA4RE(engine=Engine(p, n_ctx=1024, n_threads=1), resolved=default_model)
    for k in (0, 1, 2, len(samples) - 1):  # SemEval's first questions and CoNLL04's last
        source, pair, options, target = questions[k]
        s = samples[k]
        assert s.dataset == source
        assert s.input_ids[:-1] == qa.tokens(pair.text, options)
        assert s.labels[:-1] == [td.IGNORE] * (len(s.labels) - 1)
        assert s.labels[-1] == qa.letter_ids["ABCDEFGHIJKLMNOPQRSTUVWXYZ".index(target.letter)]
        assert s.prefix_len == len(qa._prefix)


@pytest.mark.slow
def test_qa4re_entail_samples_are_the_inference_statements(default_model):
    """--task qa4re --answer entail: per question, the gold statement answered yes, then its other direction and
    other options answered no, each exactly the tokens QA4RE(answer="entail") sends."""
    import os

    from transformers import AutoTokenizer

    from kgc_lite.qa4re.classifier import QA4RE
    from kgc_lite.runtime.engine import Engine
    from kgc_lite.train.qa4re_samples import entail_statements, training_questions

    from .test_qa4re import _has_data
    if not _has_data():
        pytest.skip("benchmark data not found")
    p = str(default_model.path)
    tok = td.Tokens(AutoTokenizer.from_pretrained(os.path.dirname(p), gguf_file=os.path.basename(p)))
    opts = tr.TrainOptions(task="qa4re", data=("semeval",), icl=0, qa_answer="entail")
    sources = td.load_sources(opts)
    samples = td.make_qa_samples(sources, opts, tok, "chatml", lambda m: None)
    questions = list(training_questions(["semeval"]))
    assert sources[0].questions == len(questions)
    qa = QA4RE(engine=Engine(p, n_ctx=1024, n_threads=1), resolved=default_model, answer="entail")
    source, pair, options, target = questions[0]  # Component-Whole(e2,e1): its other direction is offered
    asked = entail_statements(pair, options, target)
    assert [w for _, w in asked] == ["yes", "no", "no", "no"]
    assert asked[1][0].relation == target.relation and asked[1][0].reversed != target.reversed
    assert asked == entail_statements(pair, options, target)  # seeded
    for (option, word), s in zip(asked, samples):
        assert s.input_ids[:-1] == qa.tokens(pair.text, [option])
        assert s.labels[-1] == (qa.yes_ids if word == "yes" else qa.no_ids)[0]  # trained on the lower-case word
        assert s.labels[:-1] == [td.IGNORE] * (len(s.labels) - 1)
    assert len(samples) == sum(len(entail_statements(p_, o, t)) for _, p_, o, t in questions)


def test_qa4re_task_refuses_unknown_data_and_icl(tmp_path):
    with pytest.raises(KgcError, match="QA4RE training .* reads semeval"):
        td.load_sources(tr.TrainOptions(task="qa4re", data=("tiny.jsonl",)))
    with pytest.raises(KgcError, match="--icl 0"):
        tr.train(tr.TrainOptions(task="qa4re", data=("semeval",), icl=3), tmp_path / "run")


@pytest.mark.slow
def test_both_tasks_in_one_run(tmp_path):
    """--task both: the samples are the triplet run's then the QA4RE run's (named qa:<set>), a step draws from
    one data set of either, and the run card says which source gave questions and which sentences."""
    from .test_qa4re import _has_data
    if not _has_data():
        pytest.skip("benchmark data not found")
    data = write_jsonl(tmp_path / "tiny.jsonl", SENTENCES)
    opts = tiny(data, task="both", qa_data=("conll04",), qa_answer="entail", icl=0, mix="tiny=1,qa:conll04=1")
    card = json.loads((tr.train(opts, tmp_path / "run", log=lambda m: None) / "run_card.json").read_text())
    assert [(d["name"], "questions" in d, "sentences" in d) for d in card["data"]] == [
        ("tiny", False, True), ("qa:conll04", True, False)]
    assert card["task"] == "both" and card["data"][1]["questions"] > 100

    import os

    from transformers import AutoTokenizer

    from kgc_lite.models.merge import prompt_metadata
    base = tr.resolve_base(None)
    tok = td.Tokens(AutoTokenizer.from_pretrained(os.path.dirname(base.path), gguf_file=os.path.basename(base.path)))
    sources = td.load_sources(opts)
    both = td.make_both_samples(sources, opts, tok, "chatml", lambda m: None)
    alone = td.make_samples(td.load_sources(tiny(data, icl=0)), tiny(data, icl=0), tok, "chatml", lambda m: None)
    qa_opts = tr.TrainOptions(task="qa4re", data=("conll04",), icl=0, qa_answer="entail")
    qa = td.make_qa_samples(td.load_sources(qa_opts), qa_opts, tok, "chatml", lambda m: None)
    assert len(both) == len(alone) + len(qa) == card["samples"]
    assert both[0].input_ids == alone[0].input_ids and both[len(alone)].input_ids == qa[0].input_ids
    assert set(both.datasets) == {"tiny", "qa:conll04"} and both[len(alone)].dataset == "qa:conll04"
    plan = td.order(both, 20, 2, 0, "tiny=1,qa:conll04=1")
    picked = {both.datasets[step[0]] for step in plan}
    assert picked == {"tiny", "qa:conll04"} and all(len({both.datasets[i] for i in step}) == 1 for step in plan)
    # extract's prompt, recorded (the data is a file of the test's own, so no claim of pre-tokenized text)
    assert prompt_metadata(tmp_path / "run") == {"prompt_style": "natural", "icl": 0, "tokenized_text": False}
    with pytest.raises(KgcError, match="--qa-data"):
        td.load_sources(tiny(data, task="both", qa_data=()))


@pytest.mark.slow
def test_init_adapter_starts_from_its_weights(tiny_run, tmp_path):
    """--init-adapter: with lr 0 the saved adapter is the init adapter, weight for weight (so the weights were
    loaded into the LoRA layers, not a fresh init); the plan with --skip-steps continues the seeded order."""
    from safetensors.torch import load_file
    out, data, *_ = tiny_run
    cont = tmp_path / "cont"
    card = json.loads((tr.train(tiny(data, init_adapter=str(out), skip_steps=3, steps=1, lr=0.0, warmup=0), cont,
                                log=lambda m: None) / "run_card.json").read_text())
    before, after = load_file(str(out / "adapter_model.safetensors")), load_file(str(cont / "adapter_model.safetensors"))
    assert before.keys() == after.keys() and any(float(v.abs().max()) > 0 for k, v in before.items() if "lora_B" in k)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert card["init_adapter"]["path"] == str(out) and len(card["init_adapter"]["sha256"]) == 64
    samples = list(range(len(SENTENCES)))
    fake = [td.Sample("tiny", i, [], []) for i in samples]
    assert td.order(fake, 3, 2, 0) == td.order(fake, 3 + 2, 2, 0)[:3]  # so skipping 3 of 5 continues a 3-step run
    with pytest.raises(KgcError, match="rank 4, this run --rank 8"):
        tr.train(tiny(data, init_adapter=str(out), rank=8), tmp_path / "bad", log=lambda m: None)
    with pytest.raises(KgcError, match="alpha 8, this run --alpha 16: pass --alpha 8"):  # would rescale it
        tr.train(tiny(data, init_adapter=str(out), alpha=16), tmp_path / "bad", log=lambda m: None)
    with pytest.raises(KgcError, match="not a LoRA adapter folder"):
        tr.train(tiny(data, init_adapter=str(tmp_path)), tmp_path / "bad2", log=lambda m: None)


@pytest.mark.slow
def test_full_fine_tune_trains_every_weight_resumes_and_converts(tmp_path):
    """--full: every weight moves (not only attention/MLP projections), the run resumes from its checkpoint, the
    fp16 model.safetensors converts over the base GGUF into a model extract loads; no adapter to export, and no
    --init-adapter (that is a LoRA's start)."""
    from kgc_lite.extract.extractor import ExtractOptions, Extractor
    from kgc_lite.models import merge
    from kgc_lite.models.resolve import resolve
    from kgc_lite.train import convert as train_convert
    data = write_jsonl(tmp_path / "tiny.jsonl", SENTENCES)
    out = tmp_path / "full"
    logs: list[str] = []
    tr.train(tiny(data, full=True, steps=1, icl=0, lr=1e-3), out, log=logs.append)
    tr.train(tiny(data, full=True, steps=2, icl=0, lr=1e-3), out, resume=True, log=logs.append)
    assert "resumed from step 1" in logs and any(m.startswith("full fine-tune: 13") for m in logs)
    card = json.loads((out / "run_card.json").read_text())
    assert card["kind"] == "kgc-lite full fine-tune" and [c["step"] for c in card["loss_curve"]] == [1, 2]
    assert not (out / "adapter_config.json").exists() and merge.is_full_run(out)
    trained = merge.read_full_weights(out)
    assert set(trained) == set(merge.read_full_weights(out / "checkpoint"))  # the checkpoint converts too
    assert "token_embd.weight" in trained and "output_norm.weight" in trained
    import gguf
    reader = gguf.GGUFReader(str(resolve(None).path))
    original = {t.name: t for t in reader.tensors}
    for name in ("token_embd.weight", "blk.0.attn_norm.weight", "blk.29.ffn_down.weight"):  # not only LoRA's modules moved
        w = merge.gguf_array(original[name])
        assert float(abs(trained[name].astype("float32") - w).max()) > 1e-4, name
    gguf_path = train_convert.convert(out, None, tmp_path / "full-q8.gguf", "Q8_0")
    ex = Extractor(str(gguf_path), "conll04", ExtractOptions(icl=0, max_tokens=64), n_ctx=1024, n_threads=2)
    assert all(t.relation in ex.schema.relation_names for t in ex.extract("Ann Lee works for Acme Corp in Boston ."))
    r = run_cli("convert", str(out), "--lora-only", "--out", str(tmp_path / "x.gguf"))
    assert r.returncode == 2 and "full fine-tune: it has no adapter to export" in r.stderr.decode()
    with pytest.raises(KgcError, match="a full fine-tune .--full. starts from --base"):
        tr.train(tiny(data, full=True, init_adapter=str(out)), tmp_path / "bad", log=lambda m: None)


def test_equal_mix_balances_data_sets():
    fake = [td.Sample("big", i, [], []) for i in range(90)] + [td.Sample("small", i, [], []) for i in range(10)]
    def share(mix):
        plan = td.order(fake, 400, 2, 0, mix)
        return sum(fake[s[0]].dataset == "small" for s in plan) / len(plan)
    assert 0.05 < share("size") < 0.16 and 0.42 < share("equal") < 0.58
    assert 0.68 < share("big=1,small=3") < 0.82 and share("big=0,small=1") == 1.0
    for bad in ("nope", "big=1,small", "big=x,small=1", "big=-1,small=1"):
        with pytest.raises(KgcError, match="--mix must be size, equal or weights"):
            td.order(fake, 1, 1, 0, bad)
    with pytest.raises(KgcError, match="at least one weight"):
        td.order(fake, 1, 1, 0, "big=0,small=0")
    with pytest.raises(KgcError, match="exactly: big, small"):
        td.order(fake, 1, 1, 0, "big=1,other=1")


def test_detok_copies_of_the_benchmark_sets(tmp_path):
    """--detok-copies on ade/conll04/scierc: each sentence also in ordinary punctuation, its heads and tails
    rewritten to match; off by default there, and never applied to a user's file (taken as written)."""
    plain = td.load_sources(tr.TrainOptions(data=("conll04",), icl=0))[0].examples
    both = td.load_sources(tr.TrainOptions(data=("conll04",), detok_copies=True, icl=0))[0].examples
    assert len(both) == 2 * len(plain) and both[:len(plain)] == plain
    copies = both[len(plain):]
    assert any(" , " in ex.text for ex in plain) and not any(" , " in ex.text for ex in copies)
    for ex in copies:
        for t in ex.triplets:
            assert t.head in ex.text and t.tail in ex.text
    data = write_jsonl(tmp_path / "d.jsonl", SENTENCES)
    mine = td.load_sources(tiny(data, detok_copies=True))[0].examples
    assert len(mine) == len(SENTENCES)
    with pytest.raises(KgcError, match="--icl 0"):
        td.load_sources(tr.TrainOptions(data=("conll04",), detok_copies=True, icl=3))


def _stopped_at(step: int, opts, out: Path) -> None:
    """Train until step `step` is logged, then SIGTERM the run (as `quality_cpu.sh stop` does): it checkpoints."""
    previous = signal.signal(signal.SIGTERM, lambda *a: None)

    def log(message):
        if message.startswith(f"step {step}/"):
            os.kill(os.getpid(), signal.SIGTERM)
    try:
        with pytest.raises(KgcError, match=f"stopped by SIGTERM at step {step}"):
            tr.train(opts, out, log=log)
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.slow
def test_a_run_goes_on_from_its_committed_snapshot_on_another_machine(tmp_path):
    """The CPU campaign across sessions (scripts/quality_cpu.sh): a run stopped at step 2 is snapshotted
    (scripts/campaign_snapshot.py: fp16 adapter + card), its run folder is lost, and `--init-adapter SNAP
    --start-step 2` finishes steps 3-4 on the uninterrupted run's learning-rate schedule."""
    import subprocess
    import sys
    data = write_jsonl(tmp_path / "tiny.jsonl", SENTENCES)
    whole = json.loads((tr.train(tiny(data, steps=4, warmup=1), tmp_path / "whole", log=lambda m: None)
                        / "run_card.json").read_text())["loss_curve"]
    run = tmp_path / "run"
    _stopped_at(2, tiny(data, steps=4, warmup=1, save_every=10), run)
    snap = tmp_path / "snap"
    script = Path(__file__).resolve().parents[1] / "scripts" / "campaign_snapshot.py"

    def snapshot(folder):
        made = subprocess.run([sys.executable, str(script), str(folder), str(snap)], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
    snapshot(run)
    card = json.loads((snap / "campaign.json").read_text())
    assert card["step"] == 2 and card["of_steps"] == 4 and [c["step"] for c in card["loss_curve"]] == [1, 2]
    from safetensors.torch import load_file
    assert {str(v.dtype) for v in load_file(str(snap / "adapter_model.safetensors")).values()} == {"torch.float16"}
    from kgc_lite.models.merge import prompt_metadata
    # `kgc-lite convert SNAP` names the training prompt in its GGUF, as it does for a run folder
    assert prompt_metadata(snap) == {"prompt_style": tr.TrainOptions().style, "icl": 1, "tokenized_text": False}
    import shutil
    shutil.rmtree(run)  # a new machine: only the snapshot is left
    snap_sha = file_sha256(snap / "adapter_model.safetensors")
    went_on = json.loads((tr.train(tiny(data, steps=4, warmup=1, init_adapter=str(snap), start_step=2),
                                   tmp_path / "next", log=lambda m: None) / "run_card.json").read_text())
    assert [c["step"] for c in went_on["loss_curve"]] == [3, 4]
    assert [c["lr"] for c in went_on["loss_curve"]] == pytest.approx([c["lr"] for c in whole[2:]])
    assert went_on["init_adapter"]["sha256"] == snap_sha
    # the next session on that machine: stopped at step 3, snapshotted again (the folder it began from is
    # rewritten), then plain `--resume` goes on with the run's own --init-adapter/--start-step and schedule
    later = tmp_path / "later"
    _stopped_at(3, tiny(data, steps=4, warmup=1, init_adapter=str(snap), start_step=2), later)
    snapshot(later)
    assert file_sha256(snap / "adapter_model.safetensors") != snap_sha
    logs: list[str] = []
    resumed = json.loads((tr.train(tiny(data, steps=4, warmup=1), later, resume=True, log=logs.append)
                          / "run_card.json").read_text())
    assert f"resuming the run begun from {snap} at step 2" in logs and "resumed from step 3" in logs
    assert [c["step"] for c in resumed["loss_curve"]] == [3, 4]
    assert [c["lr"] for c in resumed["loss_curve"]] == pytest.approx([c["lr"] for c in whole[2:]])
    assert resumed["init_adapter"] == {"path": str(snap), "sha256": snap_sha}
    assert resumed["options"]["start_step"] == 2
    with pytest.raises(KgcError, match="give --init-adapter too"):
        tr.train(tiny(data, start_step=1), tmp_path / "bad", log=lambda m: None)
    with pytest.raises(KgcError, match=r"--start-step must be in 0\.\.3"):
        tr.train(tiny(data, steps=4, init_adapter=str(snap), start_step=4), tmp_path / "bad", log=lambda m: None)
