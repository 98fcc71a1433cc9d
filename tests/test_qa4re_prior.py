"""The entail prior (kgc_lite/qa4re/prior.py): estimated from unlabeled pairs, applied to the choice, checked
against the model and relation set it was made for, and its CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kgc_lite.errors import InputError, KgcError
from kgc_lite.qa4re import prior as qa4re_prior
from kgc_lite.qa4re.classifier import QA4RE
from kgc_lite.qa4re.questions import Pair
from kgc_lite.schema import load_schema

from .conftest import run_cli
from .test_qa4re import _has_data

PAIRS = [Pair("1", "John Smith works for IBM in Armonk , New York .", "John Smith", "IBM"),
         Pair("2", "Mary Jones was born in Dublin .", "Mary Jones", "Dublin"),
         Pair("3", "Armonk is a hamlet in New York .", "Armonk", "New York")]


@pytest.fixture
def entail(engine, default_model):
    return QA4RE(schema=load_schema("conll04"), engine=engine, resolved=default_model, answer="entail")


def test_prior_is_each_statements_mean_log_odds(entail):
    answers = [entail.ask(p) for p in PAIRS]
    prior = qa4re_prior.estimate(entail, PAIRS + [Pair("4", "No entity here .", "absent", "here")])
    assert prior["pairs"] == 3 and prior["schema"] == "conll04"  # the bad pair (head not in text) is skipped
    for key in prior["log_odds"]:
        values = [lo for a in answers for o, lo in zip(a.options, a.log_odds) if o.key() == key]
        assert len(values) == 3 and prior["log_odds"][key] == pytest.approx(np.mean(values), abs=1e-5)
    for a in answers:  # log-odds and P(yes) are the same numbers
        assert np.allclose(1 / (1 + np.exp(-np.array(a.log_odds))), a.yes, atol=1e-9)


def test_prior_moves_the_choice_to_the_option_above_its_usual_yes(entail):
    pair = PAIRS[0]
    plain = entail.ask(pair)
    lo = dict(zip((o.key() for o in plain.options), plain.log_odds))
    winner = plain.chosen.key()
    # a prior under which the plain winner is the option the model says yes to most readily
    prior = {"kind": qa4re_prior.KIND, "model": entail.model.spec.name, "model_sha256": entail.model.sha256,
             "schema": "conll04", "pairs": 1, "log_odds": {k: (v + 5.0 if k == winner else v) for k, v in lo.items()}}
    entail.use_prior(prior)
    calibrated = entail.ask(pair)
    assert calibrated.chosen.key() != winner
    assert calibrated.log_odds == pytest.approx(plain.log_odds)  # the model's answers are unchanged
    assert abs(sum(calibrated.probs) - 1) < 1e-9
    scores = {k: lo[k] - prior["log_odds"][k] for k in lo}
    assert calibrated.chosen.key() == max(scores, key=scores.get)
    del prior["log_odds"][calibrated.chosen.key()]
    with pytest.raises(InputError, match="no value for option"):
        entail.ask(pair)
    entail.use_prior(None)
    assert entail.ask(pair).chosen.key() == winner


def test_prior_is_refused_for_another_model_set_or_answer_mode(entail, engine, default_model, tmp_path):
    prior = {"kind": qa4re_prior.KIND, "model": "other", "model_sha256": "0" * 64, "schema": "conll04",
             "pairs": 1, "log_odds": {}}
    with pytest.raises(KgcError, match="estimated with model other"):
        entail.use_prior(prior)
    prior.update(model_sha256=entail.model.sha256, schema="semeval")
    with pytest.raises(KgcError, match="relation set 'semeval'"):
        entail.use_prior(prior)
    with pytest.raises(KgcError, match="entail"):
        QA4RE(schema=load_schema("semeval"), engine=engine, resolved=default_model, prior=prior)
    for text, message in (("{", "cannot read it as JSON"), ('{"kind": "x"}', "not a kgc-lite entail prior"),
                          (json.dumps({"kind": qa4re_prior.KIND, "log_odds": {"a": "1"}}), "is not a number")):
        path = tmp_path / "p.json"
        path.write_text(text)
        with pytest.raises(KgcError, match=message):
            qa4re_prior.load(path)
    with pytest.raises(KgcError, match="no such file"):
        qa4re_prior.load(tmp_path / "absent.json")


@pytest.mark.slow
def test_cli_estimates_saves_and_reuses_a_prior(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"id": p.id, "text": p.text, "head": p.head, "tail": p.tail}) + "\n"
                             for p in PAIRS))
    saved = tmp_path / "prior.json"
    common = ("qa4re", "-m", "smollm2-135m", "--answer", "entail", "-s", "conll04", "-t", "1")
    r = run_cli(*common, "--prior-from", str(pairs), "--save-prior", str(saved))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and "prior estimated over 3 pairs" in r.stderr.decode()
    prior = qa4re_prior.load(saved)
    assert prior["pairs"] == 3 and len(prior["log_odds"]) == len(load_schema("conll04").relations) + 1
    r = run_cli(*common, "--prior", str(saved), str(pairs))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["1", "2", "3"] and all(0 < x["confidence"] <= 1 for x in lines)
    for args, code, message in (
            (("-s", "scierc", "--prior", str(saved)), 1, "relation set 'conll04'"),
            (("--prior", str(saved), "--prior-from", str(pairs)), 2, "not both"),
            (("--save-prior", str(saved)), 2, "--prior-from"),
            (("--prior", str(tmp_path / "absent.json")), 1, "no such file")):
        r = run_cli(*common, *args, str(pairs))
        assert r.returncode == code and message in r.stderr.decode(), r.stderr
        assert r.stderr.decode().count("\n") == 1 and r.stdout == b""
    r = run_cli("qa4re", "-m", "smollm2-135m", "-s", "conll04", "--prior-from", str(pairs), str(pairs))
    assert r.returncode == 2 and "--answer entail" in r.stderr.decode()


@pytest.mark.skipif(not _has_data(), reason="needs ../shared/data/semeval2010")
@pytest.mark.slow
def test_eval_semeval_with_a_prior_scores_both_ways(tmp_path):
    out = tmp_path / "r.json"
    preds = tmp_path / "p.jsonl"
    r = run_cli("eval", "-d", "semeval", "--sample", "2", "--prior-pairs", "2", "-m", "smollm2-135m", "--answer",
                "entail", "-t", "1", "--save-predictions", str(preds), "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    m = doc["runs"][0]["metrics"]
    assert doc["config"]["prior_pairs"] == 2
    assert m["prior"]["pairs"] == 2 and m["prior"]["split"] == "train" and not m["prior"]["labels_read"]
    assert len(m["prior"]["log_odds"]) == 19 and "micro_f1_directed" in m["without_prior"]
    rows = [json.loads(x) for x in preds.read_text().splitlines()]
    for row in rows:  # the prediction is the option whose log-odds most exceed the prior's
        scores = {k: v - m["prior"]["log_odds"][k] for k, v in row["log_odds"].items()}
        assert row["pred"] == (lambda k: k if k == "Other" or k.endswith(")") else k + "(e1,e2)")(
            max(scores, key=scores.get))
    # the input prior: each option's mean log-odds over the scored pairs themselves, then the same argmax
    mean = {k: np.mean([row["log_odds"][k] for row in rows]) for k in rows[0]["log_odds"]}
    relabel = (lambda k: k if k == "Other" or k.endswith(")") else k + "(e1,e2)")
    again = [relabel(max(row["log_odds"], key=lambda k: row["log_odds"][k] - mean[k])) for row in rows]
    from kgc_lite.evaluation.qa4re import semeval_scores
    expected = semeval_scores([row["gold"] for row in rows], again)
    assert m["with_input_prior"]["pairs"] == 2
    assert m["with_input_prior"]["micro_f1_directed"] == expected["micro_f1_directed"]
    assert m["with_input_prior"]["predicted_other"] == again.count("Other")
    # the same prior saved to a file and given back (--prior) answers the same way, without estimating it
    saved = tmp_path / "prior.json"
    qa4re_prior.save({k: v for k, v in m["prior"].items() if k not in ("split", "seed", "labels_read")}, saved)
    again_out, again_preds = tmp_path / "r2.json", tmp_path / "p2.jsonl"
    r = run_cli("eval", "-d", "semeval", "--sample", "2", "--prior", str(saved), "-m", "smollm2-135m", "--answer",
                "entail", "-t", "1", "--save-predictions", str(again_preds), "-o", str(again_out))
    assert r.returncode == 0, r.stderr
    given = json.loads(again_out.read_text())["runs"][0]["metrics"]
    assert given["prior"]["given"] and given["prior"]["log_odds"] == m["prior"]["log_odds"]
    assert [json.loads(x)["pred"] for x in again_preds.read_text().splitlines()] == [row["pred"] for row in rows]
    bad = run_cli("eval", "-d", "semeval", "--prior", str(saved), "--prior-pairs", "2")
    assert bad.returncode == 2 and "instead of --prior-pairs" in bad.stderr.decode()
    bad = run_cli("eval", "-d", "conll04", "--prior-pairs", "2")
    assert bad.returncode == 2 and "--dataset semeval" in bad.stderr.decode()
    bad = run_cli("eval", "-d", "semeval", "--sample", "1", "--prior-pairs", "2", "-m", "smollm2-135m", "-t", "1")
    assert bad.returncode == 2 and "entail" in bad.stderr.decode()


@pytest.mark.slow
def test_eval_multiple_choice_with_a_prior_of_the_unlabeled_pairs(tmp_path):
    """`eval --qa4re --prior-pairs N`: the prior comes from the scored data's own pairs, labels unread."""
    out = tmp_path / "r.json"
    r = run_cli("eval", "--qa4re", "--gold", "examples/railways/railways.jsonl", "--schema",
                "examples/railways/railways.toml", "--sample", "4", "--prior-pairs", "3", "-t", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    prior = doc["data"]["prior"]
    assert prior["pairs"] == 3 and prior["labels_read"] is False and prior["schema"] == "railways"
    assert prior["model"] == "smollm2-135m-qa4re-entail" and doc["config"]["prior_pairs"] == 3
    m = doc["runs"][0]["metrics"]
    assert m["n"] == 4 and set(m["without_prior"]) == {"accuracy", "macro_f1", "predicted_none"}


def test_entail_examples_come_first_laid_out_as_questions(engine, default_model, entail):
    """The written demonstrations are earlier chat turns in exactly the question's layout, evaluated with the
    prefix; they reach the model, and a prior estimated without them is refused with them."""
    from kgc_lite.qa4re.questions import ENTAIL_EXAMPLES, EntailPrompt
    assert [answer for *_, answer in ENTAIL_EXAMPLES] == ["yes", "no", "yes", "no"]
    plain, shots = EntailPrompt("chatml"), EntailPrompt("chatml", 2)
    turns = "".join(plain.prefix() + plain.sentence(text) + plain.statement(statement) + plain.closing()
                    + answer + "<|im_end|>\n"
                    for text, statement, answer in ENTAIL_EXAMPLES[:2])
    assert shots.prefix() == turns + plain.prefix()
    with_shots = QA4RE(schema=load_schema("conll04"), engine=engine, resolved=default_model, answer="entail",
                       entail_examples=4)
    assert with_shots.entail_examples == 4 and len(with_shots._prefix) > len(entail._prefix) + 100
    assert not np.allclose(with_shots.ask(PAIRS[0]).log_odds, entail.ask(PAIRS[0]).log_odds, atol=1e-3)
    prior = qa4re_prior.estimate(entail, PAIRS[:1])
    assert prior["entail_examples"] == 0
    with pytest.raises(KgcError, match="estimated with 0 entail examples, not 4"):
        with_shots.use_prior(prior)
    with pytest.raises(KgcError, match="for entail answers"):
        QA4RE(schema="conll04", engine=engine, resolved=default_model, answer="logits", entail_examples=2)
    with pytest.raises(KgcError, match="0 to 4"):
        QA4RE(schema="conll04", engine=engine, resolved=default_model, answer="entail", entail_examples=5)


def test_entail_examples_cli_errors():
    for args, flag in ((["eval", "-d", "conll04", "--entail-examples", "2"], b"entail-examples"),
                       (["qa4re", "--answer", "entail", "--entail-examples", "5"], b"entail-examples"),
                       (["eval", "-d", "conll04", "--entail-layout", "question-first"], b"entail-layout"),
                       (["eval", "-d", "semeval", "--entail-layout", "sideways"], b"entail-layout"),
                       (["qa4re", "--answer", "entail", "--entail-layout", "sideways"], b"entail-layout")):
        r = run_cli(*args, input=b"")
        assert r.returncode == 2, (args, r.stderr)
        assert b"Traceback" not in r.stderr and flag in r.stderr


def test_question_first_layout_asks_once_and_evaluates_only_the_statement(engine, default_model, entail):
    """--entail-layout question-first: the question follows the sentence (and each demonstration's sentence),
    so the tokens that differ between statements are the statement and the turn's end only; the model sees it
    (other log-odds), and a prior of the other layout is refused."""
    from kgc_lite.qa4re.questions import ENTAIL_EXAMPLES, ENTAIL_QUESTION, EntailPrompt
    first = EntailPrompt("chatml", 1, "question-first")
    text, statement, answer = ENTAIL_EXAMPLES[0]
    assert first.prefix() == (f"<|im_start|>user\nDetermine whether the statement can be inferred from the given "
                              f"sentence.\nSentence: {text}\n{ENTAIL_QUESTION}\nStatement: {statement}<|im_end|>\n"
                              f"<|im_start|>assistant\n{answer}<|im_end|>\n<|im_start|>user\nDetermine whether the "
                              f"statement can be inferred from the given sentence.\nSentence:")
    qf = QA4RE(schema=load_schema("conll04"), engine=engine, resolved=default_model, answer="entail",
               entail_layout="question-first")
    assert qf.entail_layout == "question-first" and entail.entail_layout == "statement-first"
    options = qf.options(PAIRS[0])
    a, b = (qf.tokens(PAIRS[0].text, [o]) for o in options[:2])
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    tail_qf = len(a) - shared
    a0, b0 = (entail.tokens(PAIRS[0].text, [o]) for o in entail.options(PAIRS[0])[:2])
    shared0 = next(i for i, (x, y) in enumerate(zip(a0, b0)) if x != y)
    question = len(engine.tokenize("\n" + ENTAIL_QUESTION, special=False))
    assert len(a0) - shared0 >= tail_qf + question - 1  # the question left the per-statement part
    assert shared >= shared0 + question - 1               # and joined the shared one
    assert not np.allclose(qf.ask(PAIRS[0]).log_odds, entail.ask(PAIRS[0]).log_odds, atol=1e-3)
    prior = qa4re_prior.estimate(entail, PAIRS[:1])
    assert prior["entail_layout"] == "statement-first"
    with pytest.raises(KgcError, match="statement-first entail layout, not question-first"):
        qf.use_prior(prior)
    with pytest.raises(KgcError, match="entail answers"):
        QA4RE(schema="conll04", engine=engine, resolved=default_model, answer="logits",
              entail_layout="question-first")
