"""kgc-lite eval / bench / report: the scoring protocol, its error breakdown, predictions files, bad input."""

from __future__ import annotations

import json
import random

import pytest

from kgc_lite.data.benchmarks import data_dir, load_gold
from kgc_lite.errors import KgcError
from kgc_lite.evaluation import results
from kgc_lite.evaluation import scoring as ev
from kgc_lite.evaluation.runs import run_extraction
from kgc_lite.models.registry import spec_for
from kgc_lite.types import Example, Triplet

from .conftest import FIXTURES, run_cli

GOLD = FIXTURES / "gold_small.json"
PREDS = FIXTURES / "preds_small.jsonl"


# -- the protocol against an independent reference --------------------------------------------------------
def reference_micro(gold_rows, pred_rows):
    """Straightforward count written apart from kgc_lite.evaluation.scoring: per sentence, unique exact strings joined with
    a separator that cannot occur in them, then TP / FP / FN summed over sentences."""
    tp = fp = fn = 0
    for g, p in zip(gold_rows, pred_rows):
        gs = sorted({"\x1f".join(t) for t in g})
        ps = sorted({"\x1f".join(t) for t in p})
        for item in ps:
            if item in gs:
                tp += 1
            else:
                fp += 1
        fn += sum(1 for item in gs if item not in ps)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


@pytest.mark.parametrize("seed", range(40))
def test_micro_f1_matches_independent_reference(seed):
    rng = random.Random(seed)
    names = ["Ann", "ann", "Bo Kim", "Acme", "Acme Corp", "Oslo", "Lyon ", "Lyon"]
    rels = ["Work_for", "Live_in", "work_for", "Kill"]

    def triplet():
        return (rng.choice(names), rng.choice(rels), rng.choice(names))

    gold_rows, pred_rows, examples, preds = [], [], [], {}
    for i in range(rng.randint(1, 30)):
        g = [triplet() for _ in range(rng.randint(0, 5))]
        g += rng.sample(g, min(len(g), rng.randint(0, 2)))  # duplicates in the gold
        # predictions: some copies of gold (possibly repeated), some random, some case-changed
        p = [t for t in g if rng.random() < 0.5] * rng.randint(1, 2)
        p += [triplet() for _ in range(rng.randint(0, 4))]
        p += [(h.upper(), r, t) for h, r, t in g if rng.random() < 0.2]
        gold_rows.append(g)
        pred_rows.append(p)
        examples.append(Example(" ".join(names), tuple(Triplet(*t) for t in g), str(i)))
        preds[str(i)] = p
    got = ev.score(examples, preds).as_dict()
    want = reference_micro(gold_rows, pred_rows)
    assert abs(got["precision"] - want[0]) < 0.05
    assert abs(got["recall"] - want[1]) < 0.05
    assert abs(got["f1"] - want[2]) < 0.05
    # In fact they agree exactly, and per relation the counts add up to the totals.
    assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(want, abs=1e-12)
    for k in ("tp", "fp", "fn"):
        assert sum(c[k] for c in got["per_relation"].values()) == got[k]
    assert got["fp"] == sum(got["errors"][k] for k in ev.ERROR_KINDS if k != "missed")
    assert got["errors"]["missed"] <= got["fn"]


def test_prf_edge_cases():
    assert ev.prf(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert ev.prf(1, 0, 0)["f1"] == 1.0
    assert ev.prf(1, 1, 1) == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})


# -- the fixture, counted by hand -------------------------------------------------------------------------
def test_fixture_scores_and_error_breakdown():
    gold = load_gold(GOLD)
    preds = ev.read_predictions(PREDS, [e.id for e in gold])
    assert preds.errors == {"2": "<stdin>:3: empty text"}
    m = ev.score(gold, preds.triplets).as_dict()
    # sentence 0: 1 TP, "Acme" for "Acme Corp" is a boundary error; sentence 1 (gold has a duplicate): a swapped
    # Located_in, Work_for instead of Live_in, and "tom ray" (not in the text, case matters); sentence 2 missed.
    assert (m["tp"], m["fp"], m["fn"]) == (1, 4, 4)
    assert m["f1"] == pytest.approx(0.2)
    assert m["errors"] == {"hallucinated": 1, "wrong_direction": 1, "wrong_relation": 1, "boundary": 1,
                           "spurious": 0, "missed": 1}
    assert m["per_relation"]["Work_for"] == {"tp": 1, "fp": 1, "fn": 0, **ev.prf(1, 1, 0)}
    assert m["per_relation"]["Kill"]["fn"] == 1
    assert m["gold_triplets"] == 5  # de-duplicated


def test_classify_spurious_and_overlap():
    text = "Dr . Ann Lee of Acme in Oslo"
    gold = {("Ann Lee", "Work_for", "Acme")}
    assert ev.classify(text, gold, {("Dr . Ann", "Work_for", "Acme")})["boundary"] == 1  # shifted span
    assert ev.classify(text, gold, {("Oslo", "Work_for", "Acme")})["spurious"] == 1
    assert ev.classify(text, gold, {("Oslo", "Work_for", "Acme")})["missed"] == 1
    assert ev.classify(text, gold, {("Ann Lee", "Work_for", "Acme")}) == dict.fromkeys(ev.ERROR_KINDS, 0)


def test_aggregate_over_runs():
    gold = [Example("a b c", (Triplet("a", "R", "b"), Triplet("b", "R", "c")), "0")]
    runs = [ev.score(gold, {"0": p}).as_dict() for p in ([("a", "R", "b")], [("a", "R", "b"), ("b", "R", "c")],
                                                         [])]
    agg = ev.aggregate(runs)
    assert agg["f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert agg["f1_spread"]["n"] == 3 and agg["f1_spread"]["min"] == 0 and agg["f1_spread"]["max"] == 1
    assert agg["f1_spread"]["std"] > 0.4
    assert agg["per_relation"]["R"]["f1_spread"]["n"] == 3


def test_quantization_names():
    assert results.quantization({"general.file_type": "3"}) == "Q4_1"
    assert results.quantization({}, "x/model-q4_k_m.gguf") == "Q4_K_M"
    assert results.quantization(None, "model.gguf") is None


# -- bad input names the line -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, message", [
    ("preds_malformed.jsonl", "preds_malformed.jsonl:2: not valid JSON"),
    ("preds_bad_triplet.jsonl", "preds_bad_triplet.jsonl:3: triplet 1 must be"),
    ("preds_unknown_id.jsonl", "preds_unknown_id.jsonl:2: id '17' matches no gold sentence"),
])
def test_bad_predictions_name_the_line(name, message):
    with pytest.raises(KgcError, match=message.replace(".", r"\.").replace("'", "'")):
        ev.read_predictions(FIXTURES / name, ["0", "1", "2"])


def test_cli_scores_a_predictions_file(tmp_path):
    out = tmp_path / "r.json"
    r = run_cli("eval", "--predictions", str(PREDS), "--gold", str(GOLD), "--schema", "conll04", "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(out.read_text())
    assert doc["kind"] == "eval" and doc["metrics"]["f1"] == pytest.approx(0.2)
    assert doc["data"]["sha256"] and doc["config"]["predictions_sha256"] and doc["hardware"]["cores"]
    assert doc["kgc_lite_version"] and doc["date"] and doc["source_sha256"]
    assert "micro (all)" in r.stdout.decode()
    assert "1 prediction record(s) are errors" in r.stderr.decode()

    rep = run_cli("report", str(out), "--no-plots")
    assert rep.returncode == 0, rep.stderr.decode()
    assert "| 20.0 |" in rep.stdout.decode() and "Work_for" in rep.stdout.decode()


@pytest.mark.parametrize("args, message", [
    (["--predictions", str(FIXTURES / "preds_malformed.jsonl"), "--gold", str(GOLD)],
     "preds_malformed.jsonl:2: not valid JSON"),
    (["--predictions", str(FIXTURES / "preds_unknown_id.jsonl"), "--gold", str(GOLD)],
     "preds_unknown_id.jsonl:2: id '17' matches no gold sentence"),
    (["--predictions", str(PREDS), "--gold", str(FIXTURES / "gold_bad.json")],
     "gold_bad.json: record 0 is not in the CodeKGC format"),
])
def test_cli_bad_input_is_one_clear_line(args, message):
    r = run_cli("eval", *args)
    err = r.stderr.decode()
    assert r.returncode == 1
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_report_plots(tmp_path):
    pytest.importorskip("matplotlib")
    from kgc_lite.evaluation import report
    gold = load_gold(GOLD)
    preds = ev.read_predictions(PREDS, [e.id for e in gold])
    metrics = ev.score(gold, preds.triplets).as_dict()
    metrics["sentences_per_second"] = ev.spread([1.5])
    doc = results.results_document("eval", model={"name": "m", "quantization": "Q4_1"},
                                   config={"task": "triplets", "prompt_style": "code", "icl": 3},
                                   data={"dataset": "conll04", "split": "test"}, metrics=metrics)
    results.write_results(doc, tmp_path / "a.json")
    docs = report.load_all([str(tmp_path)])
    paths = report.plots(docs, tmp_path)
    assert [p.name for p in paths] == ["f1_per_relation.png", "f1_vs_throughput.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(KgcError, match="not a kgc-lite results file"):
        results.load_results(GOLD)
    (tmp_path / "other.json").write_text('{"tool": "someone else"}')
    skipped: list[str] = []
    assert len(report.load_all([str(tmp_path)], skipped)) == 1 and skipped[0].endswith("other.json")
    with pytest.raises(KgcError, match="not a kgc-lite results file"):
        report.load_all([str(tmp_path / "other.json")])
    (tmp_path / "broken.json").write_text('{"kind": ')
    with pytest.raises(KgcError, match="broken.json is not valid JSON"):
        report.load_all([str(tmp_path)])


def test_report_labels_say_which_split_and_text():
    """Columns of the report's per-relation tables: a validation run or an ordinary-punctuation copy is named,
    so it cannot pass for the test split's run of the same model."""
    from kgc_lite.evaluation.report import _label
    cfg = {"task": "triplets", "prompt_style": "natural", "icl": 0}
    docs = [{"model": {"name": "m"}, "config": cfg, "metrics": {}, "data": data} for data in
            ({"split": "test"}, {"split": "val"}, {"split": "test", "detok": True})]
    assert [_label(d) for d in docs] == ["m natural 0icl", "m natural 0icl (val)", "m natural 0icl detok"]


# -- with the real embedded model (loaded once) -----------------------------------------------------------
@pytest.fixture(scope="module")
def model_run(tmp_path_factory, default_model):
    from kgc_lite.extract.extractor import ExtractOptions
    from kgc_lite.schema import load_schema
    gold = load_gold(FIXTURES / "gold_small.jsonl")
    saved = tmp_path_factory.mktemp("preds") / "p.jsonl"
    runs, model = run_extraction(gold, schema=load_schema("conll04"), options=ExtractOptions(icl=1),
                                    pool=None, seeds=[0], n_threads=1, save_predictions=saved)
    return gold, runs, model, saved


def test_eval_run_is_rescored_identically_from_its_saved_predictions(model_run):
    gold, runs, model, saved = model_run
    assert model["sha256"] == spec_for(None).sha256
    assert model["quantization"] == "Q8_0"  # the fine-tuned default, merged and quantized at first use
    rescored = ev.score(gold, ev.read_predictions(saved, [e.id for e in gold]).triplets).as_dict()
    run = runs[0]["metrics"]
    assert {k: rescored[k] for k in ("tp", "fp", "fn", "f1")} == {k: run[k] for k in ("tp", "fp", "fn", "f1")}
    assert runs[0]["engine"]["generated_tokens"] > 0


def test_bench_both_sides_on_one_sentence(default_model):
    from kgc_lite.evaluation import bench
    gold = load_gold(FIXTURES / "gold_small.jsonl")[:1]
    m = bench.bench(gold, schema="conll04", style="natural", icl=1, pool=None, n_threads=1, warmup=1, repeat=1,
                    isolate=False, max_tokens=64)
    for side in bench.SIDES:
        s = m[side]
        assert s["summary"]["sentences_per_second"]["median"] > 0 and s["peak_rss_mib"] > 50
        assert 0.0 <= s["metrics"]["f1"] <= 1.0 and s["icl_example_ids"] == m["extract"]["icl_example_ids"]
    assert m["speedup"] > 0
    assert "extract / baseline" in bench.bench_table(m)


def test_baseline_prompt_has_the_same_contents():
    from kgc_lite.evaluation.bench import baseline_messages, baseline_schema
    from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig
    from kgc_lite.schema import load_schema
    schema = load_schema("conll04")
    prompts = PromptBuilder(schema, PromptConfig(style="natural", icl=2), schema.examples)
    msgs = baseline_messages(prompts, "Bo Kim works for Nordea .")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[0]["content"] == prompts.instruction()
    assert msgs[-1]["content"] == prompts.user_message("Bo Kim works for Nordea .")
    assert baseline_schema(schema.relation_names)["items"]["prefixItems"][1]["enum"] == schema.relation_names


def test_a_data_folder_named_on_purpose_must_be_one(tmp_path, monkeypatch):
    """--data-dir or KGC_LITE_DATA pointing at the wrong folder is an error, not a silent fall-back to
    ../shared/data (a score must come from the data asked for)."""
    monkeypatch.delenv("KGC_LITE_DATA", raising=False)
    with pytest.raises(KgcError, match="not the benchmark data folder"):
        data_dir(tmp_path)
    monkeypatch.setenv("KGC_LITE_DATA", str(tmp_path))
    with pytest.raises(KgcError, match="given by KGC_LITE_DATA"):
        data_dir()
    r = run_cli("eval", "--dataset", "ade", "--split", "val", "--data-dir", str(tmp_path / "nowhere"))
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1 and "not the benchmark data folder" in err, err
    (tmp_path / "kgc").mkdir()
    assert data_dir() == tmp_path.resolve() == data_dir(tmp_path)
