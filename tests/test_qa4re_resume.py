"""`kgc-lite eval --save-predictions FILE --resume` for QA4RE: lines written as pairs are answered, a killed run
continued from them, entail answers chosen anew under the resumed run's prior, other settings refused."""

from __future__ import annotations

import json
import shutil

import pytest

from kgc_lite.qa4re import prior as qa4re_prior

from .conftest import run_cli
from .test_qa4re import _has_data

RAILWAYS = ("--gold", "examples/railways/railways.jsonl", "--schema", "examples/railways/railways.toml")


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _metrics(path):
    return json.loads(path.read_text())["runs"][0]["metrics"]


def _kill_after(src, dst, n):
    """dst: the first n lines of src and half of the next, as a run killed while writing it leaves them,
    with src's fingerprint beside it."""
    lines = src.read_bytes().splitlines(keepends=True)
    dst.write_bytes(b"".join(lines[:n]) + lines[n][: len(lines[n]) // 2])
    shutil.copy(str(src) + ".meta.json", str(dst) + ".meta.json")


@pytest.mark.skipif(not _has_data(), reason="needs ../shared/data/semeval2010")
@pytest.mark.slow
def test_semeval_eval_resumes_a_killed_run_and_rechooses_under_its_prior(tmp_path):
    base = ("eval", "-d", "semeval", "--sample", "3", "-m", "smollm2-135m", "--answer", "entail", "-t", "1")
    with_prior, plain = tmp_path / "prior.jsonl", tmp_path / "plain.jsonl"
    r = run_cli(*base, "--prior-pairs", "2", "--save-predictions", str(with_prior), "-o", str(tmp_path / "a.json"))
    assert r.returncode == 0, r.stderr
    m = _metrics(tmp_path / "a.json")
    r = run_cli(*base, "--save-predictions", str(plain), "-o", str(tmp_path / "b.json"))
    assert r.returncode == 0, r.stderr
    assert [x["log_odds"] for x in _lines(plain)] == [x["log_odds"] for x in _lines(with_prior)]
    assert _lines(plain)[0]["pred"] != "Other"
    # a prior that makes "Other" win every pair, whatever the log-odds
    prior = tmp_path / "p.json"
    table = {**m["prior"]["log_odds"], "Other": -100.0}
    qa4re_prior.save({**{k: v for k, v in m["prior"].items() if k not in ("split", "seed", "labels_read")},
                      "log_odds": table}, prior)

    # killed after one answer of the run without a prior, then resumed with the prior: the answer read back is
    # chosen again under the prior, the others asked with it
    part = tmp_path / "part.jsonl"
    _kill_after(plain, part, 1)
    r = run_cli(*base, "--prior", str(prior), "--save-predictions", str(part), "--resume",
                "-o", str(tmp_path / "c.json"))
    assert r.returncode == 0, r.stderr
    assert "1 of 3 pairs read back" in r.stderr.decode() and "torn" in r.stderr.decode()
    resumed = _metrics(tmp_path / "c.json")
    assert resumed["resumed"] == 1 and resumed["asked"] == 2
    assert resumed["predicted_other"] == 3
    plain_m = _metrics(tmp_path / "b.json")
    assert resumed["without_prior"]["micro_f1_directed"] == plain_m["micro_f1_directed"]
    assert resumed["without_prior"]["predicted_other"] == plain_m["predicted_other"]
    assert resumed["with_input_prior"] == plain_m["with_input_prior"]
    lines = _lines(part)  # the torn line was cut and its pair asked again; each pair once
    assert [x["id"] for x in lines] == [x["id"] for x in _lines(plain)]
    assert [x["log_odds"] for x in lines] == [x["log_odds"] for x in _lines(plain)]
    assert [x["pred"] for x in lines[1:]] == ["Other", "Other"]

    # a finished file resumed asks nothing; another setting is refused; without --resume the file starts afresh
    r = run_cli(*base, "--prior", str(prior), "--save-predictions", str(part), "--resume",
                "-o", str(tmp_path / "d.json"))
    assert r.returncode == 0 and _metrics(tmp_path / "d.json")["asked"] == 0
    assert _metrics(tmp_path / "d.json")["predicted_other"] == 3
    r = run_cli(*base, "--entail-examples", "1", "--save-predictions", str(part), "--resume")
    assert r.returncode == 1 and "entail_examples (was 0, now 1)" in r.stderr.decode()
    assert len(r.stderr.decode().strip().splitlines()) == 1
    r = run_cli(*base[:4], "1", *base[5:], "--save-predictions", str(part), "-o", str(tmp_path / "e.json"))
    assert r.returncode == 0 and len(_lines(part)) == 1


@pytest.mark.slow
def test_multiple_choice_eval_resumes_and_refuses_misuse(tmp_path):
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    r = run_cli("eval", "--qa4re", *RAILWAYS, "--sample", "3", "-t", "1", "--save-predictions", str(full),
                "-o", str(tmp_path / "a.json"))
    assert r.returncode == 0, r.stderr
    _kill_after(full, part, 1)
    r = run_cli("eval", "--qa4re", *RAILWAYS, "--sample", "3", "-t", "1", "--save-predictions", str(part),
                "--resume", "-o", str(tmp_path / "b.json"))
    assert r.returncode == 0, r.stderr
    a, b = _metrics(tmp_path / "a.json"), _metrics(tmp_path / "b.json")
    assert (b["asked"], b["resumed"]) == (2, 1)
    assert (b["accuracy"], b["macro_f1"]) == (a["accuracy"], a["macro_f1"])
    assert [x["pred"] for x in _lines(part)] == [x["pred"] for x in _lines(full)]
    # answers evaluated another way (--entail-batch: close, not equal) are not mixed into the file
    r = run_cli("eval", "--qa4re", *RAILWAYS, "--sample", "3", "-t", "1", "--entail-batch", "--save-predictions",
                str(part), "--resume")
    assert r.returncode == 1 and 'evaluation (was "settled", now "batched")' in r.stderr.decode()
    for args, says in ((("--qa4re", *RAILWAYS, "--resume"), "--save-predictions FILE"),
                       (("-d", "conll04", "--resume", "--save-predictions", str(part)), "extract -o FILE --resume")):
        r = run_cli("eval", *args)
        assert r.returncode == 2 and says in r.stderr.decode()


@pytest.mark.slow
def test_a_resumed_run_reads_its_prior_back_instead_of_estimating_it(tmp_path):
    preds = tmp_path / "p.jsonl"
    kept = tmp_path / "p.jsonl.prior.json"
    common = ("eval", "--qa4re", *RAILWAYS, "--sample", "3", "-t", "1", "--save-predictions", str(preds))
    r = run_cli(*common, "--prior-pairs", "2", "-o", str(tmp_path / "a.json"))
    assert r.returncode == 0, r.stderr
    estimated = json.loads((tmp_path / "a.json").read_text())["data"]["prior"]
    prior = qa4re_prior.load(kept)
    assert estimated["read_back"] is False and prior["pairs"] == 2 and prior["drawn"]["n"] == 2
    assert prior["log_odds"] == estimated["log_odds"]
    # mark the kept prior with a table no estimate gives: a resume that answers with it has read it back
    qa4re_prior.save({**prior, "log_odds": {k: 0.0 for k in prior["log_odds"]}}, kept)
    r = run_cli(*common, "--prior-pairs", "2", "--resume", "-o", str(tmp_path / "b.json"))
    assert r.returncode == 0, r.stderr
    assert "prior read back from" in r.stderr.decode()
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["data"]["prior"]["read_back"] is True and set(doc["data"]["prior"]["log_odds"].values()) == {0.0}
    # drawn otherwise (another count): estimated afresh, and kept in its place
    r = run_cli(*common, "--prior-pairs", "3", "--resume", "-o", str(tmp_path / "c.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "c.json").read_text())["data"]["prior"]["read_back"] is False
    assert qa4re_prior.load(kept)["pairs"] == 3
    # a saved prior given to a --qa4re eval (--prior FILE): answered with, not estimated
    r = run_cli("eval", "--qa4re", *RAILWAYS, "--sample", "3", "-t", "1", "--prior", str(kept),
                "-o", str(tmp_path / "d.json"))
    assert r.returncode == 0, r.stderr
    given = json.loads((tmp_path / "d.json").read_text())
    assert given["data"]["prior"]["given"] and given["data"]["prior"]["log_odds"] == qa4re_prior.load(kept)["log_odds"]
    assert given["runs"][0]["metrics"]["accuracy"] == _metrics(tmp_path / "c.json")["accuracy"]
    r = run_cli("eval", "--qa4re", *RAILWAYS, "--prior", str(kept), "--prior-pairs", "2")
    assert r.returncode == 2 and "not both" in r.stderr.decode()
