"""QA4RE mode: options, prompts, input reading, scoring, both answer paths, the CLI and its bad-input handling."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest

from kgc_lite.data.benchmarks import data_dir
from kgc_lite.data.zero_rte import wikidata_template
from kgc_lite.errors import InputError, KgcError
from kgc_lite.evaluation.qa4re import choice_scores, semeval_scores
from kgc_lite.io.inputs import BadRecord
from kgc_lite.models.resolve import resolve
from kgc_lite.qa4re.classifier import QA4RE
from kgc_lite.qa4re.pairs import parse_markup, read_extract_output, read_pairs
from kgc_lite.qa4re.questions import LETTERS, OTHER, Pair, QAPrompt, build_options, find_option
from kgc_lite.schema import load_schema
from kgc_lite.train.qa4re_samples import training_pairs, training_questions

from .conftest import FIXTURES, run_cli

SENT = "The fire was caused by a faulty cable in the kitchen."


def _has_data(file: str = "semeval2010/train.jsonl") -> bool:
    try:
        return (data_dir() / file).exists()
    except KgcError:
        return False


# -- options ----------------------------------------------------------------------------------------------------
def test_semeval_schema_offers_both_directions_and_other():
    schema = load_schema("semeval")
    assert schema.directions == "both" and len(schema.relations) == 9
    opts = build_options(schema, Pair("1", SENT, "fire", "cable"))
    assert [o.letter for o in opts] == list("ABCDEFGHIJKLMNOPQRS")
    assert opts[-1].relation is None and opts[-1].directed_label() == OTHER
    assert opts[-1].statement == "fire has no known relations to cable"
    back = find_option(opts, "Cause-Effect", True)
    assert back.statement == "cable causes fire" and back.directed_label() == "Cause-Effect(e2,e1)"
    assert find_option(opts, "Cause-Effect", False).directed_label() == "Cause-Effect(e1,e2)"
    assert {o.directed_label() for o in opts} == {f"{r.name}({d})" for r in schema.relations
                                                  for d in ("e1,e2", "e2,e1")} | {OTHER}


def test_entity_types_prune_options():
    conll = load_schema("conll04")
    assert conll.directions == "given"
    untyped = build_options(conll, Pair("1", "Ann Lee works for Acme .", "Ann Lee", "Acme"))
    assert [o.relation for o in untyped] == conll.relation_names + [None]
    typed = build_options(conll, Pair("1", "Ann Lee works for Acme .", "Ann Lee", "Acme", "Person", "Organization"))
    assert [(o.letter, o.relation) for o in typed] == [("A", "Work_for"), ("B", None)]
    assert typed[0].statement == "Ann Lee works for Acme"
    half = build_options(conll, Pair("1", "Ann Lee lives in Paris .", "Ann Lee", "Paris", "Person", None))
    assert [o.relation for o in half] == ["Work_for", "Kill", "Live_in", None]


def test_type_errors_are_clear():
    conll = load_schema("conll04")
    with pytest.raises(InputError, match="empty option set"):
        build_options(conll, Pair("7", "Acme hired Ann Lee .", "Acme", "Ann Lee", "Organization", "Person"))
    with pytest.raises(InputError, match="'Planet' is not an entity type of schema conll04"):
        build_options(conll, Pair("7", "Mars is red .", "Mars", "red", "Planet", None))


def test_shuffle_is_seeded_and_keeps_the_options():
    schema = load_schema("semeval")
    pair = Pair("1", SENT, "fire", "cable")
    fixed = build_options(schema, pair)
    a = build_options(schema, pair, shuffle=True, seed=3)
    b = build_options(schema, pair, shuffle=True, seed=3)
    c = build_options(schema, pair, shuffle=True, seed=4)
    assert a == b and a != c
    assert [o.letter for o in a] == [o.letter for o in fixed]
    key = lambda o: (o.relation or "", o.reversed, o.statement)  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, fixed)) and list(map(key, a)) != list(map(key, fixed))


def test_user_schema_with_templates_and_directions(tmp_path):
    path = tmp_path / "family.toml"
    path.write_text('name = "family"\ndirections = "both"\nentity_types = ["Person"]\n'
                    '[[relations]]\nname = "Parent_of"\nhead = "Person"\ntail = "Person"\n'
                    'template = "{head} is a parent of {tail}"\n')
    schema = load_schema(str(path))
    opts = build_options(schema, Pair("1", "Tom Long is Mia's father.", "Tom Long", "Mia", "Person", "Person"))
    assert [o.statement for o in opts] == ["Tom Long is a parent of Mia", "Mia is a parent of Tom Long",
                                          "Tom Long has no known relations to Mia"]
    path.write_text('directions = "sideways"\n[[relations]]\nname = "X"\n')
    with pytest.raises(KgcError, match="directions"):
        load_schema(str(path))


def test_too_many_options_is_refused_for_letters_only(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("".join(f'[[relations]]\nname = "R{i}"\n' for i in range(26)))
    with pytest.raises(KgcError, match="at most 26.*--answer entail"):
        build_options(load_schema(str(path)), Pair("1", "a b", "a", "b"))
    options = build_options(load_schema(str(path)), Pair("1", "a b", "a", "b"), lettered=False)
    assert len(options) == 27 and [o.letter for o in options[24:]] == ["Y", "Z", "AA"]
    assert options[-1].relation is None


# -- prompt -------------------------------------------------------------------------------------------------------
def test_prompt_text_is_qa4re_shaped():
    opts = build_options(load_schema("conll04"), Pair("1", "Ann Lee works for Acme .", "Ann Lee", "Acme",
                                                      "Person", "Organization"))
    text = QAPrompt("chatml").text("Ann Lee works for Acme .", opts)
    assert text == ("<|im_start|>user\nDetermine which option can be inferred from the given sentence.\n"
                    "Sentence: Ann Lee works for Acme .\nOptions:\nA. Ann Lee works for Acme\n"
                    "B. Ann Lee has no known relations to Acme\n"
                    "Which option can be inferred from the given sentence?<|im_end|>\n<|im_start|>assistant\n")
    plain = QAPrompt("plain").text("x y", opts)
    assert plain.startswith("### Input\nDetermine") and plain.endswith("?\n### Output\n")


# -- reading ------------------------------------------------------------------------------------------------------
def test_parse_markup():
    assert parse_markup("The <e1>milk</e1> went into a <e2>glass jar</e2>.") == (
        "The milk went into a glass jar.", "milk", "glass jar")
    with pytest.raises(InputError, match="missing <e2>"):
        parse_markup("The <e1>milk</e1> went into a jar.")


def test_read_pairs_formats():
    pairs = list(read_pairs([str(FIXTURES / "qa4re_pairs.jsonl")]))
    assert all(isinstance(p, Pair) for p in pairs), pairs
    assert [(p.id, p.head, p.tail) for p in pairs] == [
        ("p1", "fire", "cable"), ("p2", "cable", "kitchen"), ("p3", "milk", "jar"), ("4", "report", "budget"),
        ("qa4re_pairs.jsonl:5", "author", "novel"), ("5", "flock", "geese")]
    assert pairs[2].text == "She poured the milk into a glass jar." and pairs[2].extra == {
        "gold": "Entity-Destination(e1,e2)"}
    assert pairs[5].text == "A flock of geese flew over the lake."


def test_read_pairs_bad_records_are_reported_in_place():
    items = list(read_pairs([str(FIXTURES / "qa4re_bad.jsonl")]))
    assert [i.id for i in items] == ["ok1", "no-head", "not-in-text", "bad-schema", "pruned",
                                     "qa4re_bad.jsonl:6", "ok2"]
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Pair", "BadRecord", "BadRecord", "Pair", "Pair", "BadRecord", "Pair"]
    assert 'missing "head"' in items[1].error and "qa4re_bad.jsonl:2" in items[1].error
    assert "tail 'wire' does not occur in the text" in items[2].error
    assert "neither a JSON record nor a sentence with <e1>" in items[5].error


def test_read_extract_output_for_verify():
    items = list(read_extract_output([str(FIXTURES / "qa4re_extract_out.jsonl")]))
    assert [(i.head, i.tail, i.extra["extracted_relation"]) for i in items if isinstance(i, Pair)] == [
        ("Maria Alvarez", "Delta", "Work_for"), ("Delta", "Atlanta", "Organization_based_in")]
    assert isinstance(items[-1], BadRecord) and "extract reported an error" in items[-1].error


# -- scoring ------------------------------------------------------------------------------------------------------
def test_semeval_scores_follow_the_official_scorer():
    gold = ["Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Component-Whole(e1,e2)", "Other", "Other"]
    pred = ["Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)", "Other", "Component-Whole(e2,e1)", "Other"]
    s = semeval_scores(gold, pred)
    # Cause-Effect: 1 exact of 2 predicted (the wrong direction counts against precision) and 2 gold -> F1 50;
    # Component-Whole: 0 -> F1 0; macro over the relations in the gold = 25.
    assert s["per_relation"]["Cause-Effect"] == {"p": 50.0, "r": 50.0, "f1": 50.0, "correct": 1, "proposed": 2,
                                                 "gold": 2}
    assert s["official_macro_f1"] == 25.0
    # micro over directed labels, Other excluded: 1 correct of 3 predicted, 3 gold
    assert s["micro_f1_directed"] == 33.33 and s["accuracy_19way"] == 40.0
    perfect = semeval_scores(gold, gold)
    assert perfect["official_macro_f1"] == 100.0 and perfect["micro_f1_directed"] == 100.0


# -- training examples ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(not _has_data(), reason="benchmark data not found")
def test_training_pairs_use_the_inference_prompt():
    it = training_pairs(["semeval"])
    prompt, answer = next(it)
    # SemEval train #1: "The system as described above has its greatest application in an arrayed
    # <e1>configuration</e1> of antenna <e2>elements</e2>." labelled Component-Whole(e2,e1)
    opts = build_options(load_schema("semeval"), Pair("1", prompt.split("Sentence: ")[1].split("\nOptions")[0],
                                                      "configuration", "elements"))
    assert answer == find_option(opts, "Component-Whole", True).letter == "D"
    assert prompt == QAPrompt("chatml").text(prompt.split("Sentence: ")[1].split("\nOptions")[0], opts)
    conll = list(training_pairs(["conll04"], end=True))
    assert all(a.endswith("<|im_end|>") for _, a in conll)
    none_letters = sum(1 for p, a in conll if f"{a[0]}. " in p and "has no known relations" in
                       p.split(f"\n{a[0]}. ")[1].split("\n")[0])
    assert 0 < none_letters < len(conll)


def _has_fewrel() -> bool:
    return _has_data("fewrel/all.json")


def test_wikidata_statements_read_as_sentences():
    assert wikidata_template("place of birth") == "the place of birth of {head} is {tail}"
    assert wikidata_template("owned by") == "{head} owned by {tail}"
    assert wikidata_template("instance of") == "{head} instance of {tail}"
    assert wikidata_template("has part") == "{head} has part {tail}"


@pytest.mark.skipif(not _has_fewrel(), reason="FewRel data not found")
def test_fewrel_questions_leave_the_held_out_relations_out():
    from kgc_lite.data.zero_rte import held_out_relations
    held = {r.identifier for r in held_out_relations("fewrel", "unseen_10_seed_0")}
    qs = list(itertools.islice(training_questions(["fewrel"], shuffle=True), 3000))
    offered = {o.relation for _, _, options, _ in qs for o in options}
    assert offered and not offered & held
    assert 40 < len(offered - {None}) <= 65           # many relation sets, not one
    sizes = [len(options) for _, _, options, _ in qs]
    assert min(sizes) >= 4 and max(sizes) <= 19       # 3-18 relations plus none of the above
    nones = sum(1 for *_, target in qs if target.relation is None)
    assert 0.08 < nones / len(qs) < 0.25
    # shuffled: none of the above is not always last, and the gold letter is spread over the positions
    assert sum(1 for _, _, options, _ in qs if options[-1].relation is not None) > len(qs) / 2
    assert len({target.letter for *_, target in qs}) >= 15
    again = list(itertools.islice(training_questions(["fewrel"], shuffle=True), 50))
    assert [(p, o, t) for _, p, o, t in again] == [(p, o, t) for _, p, o, t in qs[:50]]  # seeded
    # --gloss 0.5: about half the questions state every option with its description; the rest as before
    glossed = list(itertools.islice(training_questions(["fewrel"], shuffle=True, gloss=0.5), 400))
    with_gloss = [options for _, _, options, _ in glossed if ": " in options[0].statement + options[1].statement]
    assert 0.35 < len(with_gloss) / len(glossed) < 0.65
    plain = [q for q, g in zip(qs[:400], glossed) if q[2] == g[2]]
    assert len(plain) == len(glossed) - len(with_gloss)   # the same question, unglossed


def test_choice_scores():
    got = choice_scores(["a", "a", "b", "b"], ["a", None, "a", "b"])
    assert got["accuracy"] == 50.0 and got["predicted_none"] == 1
    # a: P 1/2, R 1/2 -> 50; b: P 1, R 1/2 -> 66.67
    assert got["macro_f1"] == round(100 * (0.5 + 2 / 3) / 2, 2)


# -- with the model -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def qa(engine, default_model):
    return QA4RE(schema="semeval", engine=engine, resolved=default_model)


def test_logits_and_grammar_paths_agree(qa):
    pairs = [p for p in read_pairs([str(FIXTURES / "qa4re_pairs.jsonl")])]
    for p in pairs:
        fast = qa.ask(p, "logits")
        slow = qa.ask(p, "grammar")
        assert fast.chosen == slow.chosen, p
        assert abs(sum(fast.probs) - 1) < 1e-6 and len(fast.probs) == 19 and slow.probs is None


def test_training_prompt_tokenizes_like_inference(qa):
    pair = Pair("1", SENT, "fire", "cable")
    opts = qa.options(pair)
    assert qa.engine.tokenize(QAPrompt(qa.model.spec.prompt_format).text(SENT, opts), bos=True) == \
        qa.tokens(SENT, opts)


def test_permutations_average_over_cyclic_orders(engine, default_model):
    """With as many orders as options, every option takes every letter once: the averaged probabilities do not
    depend on the order the options came in."""
    schema = load_schema("conll04")
    pair = Pair("1", "John Smith works for IBM in Armonk , New York .", "John Smith", "IBM")
    full = QA4RE(schema=schema, engine=engine, resolved=default_model, permutations=6)
    opts = full.options(pair)
    assert len(opts) == 6
    rotated = [replace(o, letter=LETTERS[i]) for i, o in enumerate(opts[2:] + opts[:2])]
    a, b = full.ask(pair, options=opts), full.ask(pair, options=rotated)
    by_a = {o.relation: p for o, p in zip(a.options, a.probs)}
    by_b = {o.relation: p for o, p in zip(b.options, b.probs)}
    assert by_a == pytest.approx(by_b, abs=1e-5) and a.chosen.relation == b.chosen.relation
    assert abs(sum(a.probs) - 1) < 1e-6
    single = QA4RE(schema=schema, engine=engine, resolved=default_model)
    one = single.ask(pair, options=opts)
    assert one.probs != pytest.approx(a.probs, abs=1e-3)  # one order alone differs: the untuned model has a bias
    with pytest.raises(KgcError, match="logits"):
        QA4RE(schema=schema, engine=engine, resolved=default_model, permutations=2, answer="grammar")


def test_entail_answers_do_not_depend_on_the_option_order(engine, default_model):
    """--answer entail asks each statement alone: any order of the options gives the same probabilities, and the
    sentence is evaluated once for all of them."""
    schema = load_schema("conll04")
    pair = Pair("1", "John Smith works for IBM in Armonk , New York .", "John Smith", "IBM")
    qa = QA4RE(schema=schema, engine=engine, resolved=default_model, answer="entail")
    opts = qa.options(pair)
    rotated = [replace(o, letter=LETTERS[i]) for i, o in enumerate(opts[3:] + opts[:3])]
    before = qa.engine.stats.prompt_tokens
    a = qa.ask(pair, options=opts)
    evaluated = qa.engine.stats.prompt_tokens - before
    b = qa.ask(pair, options=rotated)
    assert {o.relation: p for o, p in zip(a.options, a.probs)} == pytest.approx(
        {o.relation: p for o, p in zip(b.options, b.probs)}, abs=1e-6)
    assert a.chosen.relation == b.chosen.relation and abs(sum(a.probs) - 1) < 1e-6
    one = len(qa.tokens(pair.text, [opts[0]]))
    assert evaluated < 0.6 * one * len(opts)  # instruction and sentence not re-evaluated per statement
    with pytest.raises(KgcError, match="entail"):
        qa.ask(pair, "logits")
    with pytest.raises(KgcError, match="order"):
        QA4RE(schema=schema, engine=engine, resolved=default_model, answer="entail", permutations=3)


def test_entail_yes_counts_both_casings(engine, default_model):
    """P(yes) pools "yes" and "Yes" against "no" and "No": an untuned chat model answers capitalized, a model
    trained on the lower-case words is unaffected (docs/history.md, stop 23)."""
    qa = QA4RE(schema=load_schema("conll04"), engine=engine, resolved=default_model, answer="entail")
    words = lambda ids: [qa.engine.detokenize([i]) for i in ids]  # noqa: E731
    assert words(qa.yes_ids) == ["yes", "Yes"] and words(qa.no_ids) == ["no", "No"]
    pair = Pair("1", "John Smith works for IBM in Armonk , New York .", "John Smith", "IBM")
    ans = qa.ask(pair)
    for option, p_yes in zip(ans.options, ans.yes):
        p = np.exp(qa.engine.next_logits(qa.tokens(pair.text, [option])).astype(np.float64))
        expected = p[qa.yes_ids].sum() / (p[qa.yes_ids].sum() + p[qa.no_ids].sum())
        assert p_yes == pytest.approx(expected, abs=1e-6)
        assert p_yes != pytest.approx(p[qa.yes_ids[0]] / (p[qa.yes_ids[0]] + p[qa.no_ids[0]]), abs=1e-4)


def test_pairs_of_one_sentence_share_the_cache(qa):
    qa.ask(Pair("a", "Something else entirely.", "Something", "else"))
    before = qa.engine.stats.cached_tokens
    qa.ask(Pair("1", SENT, "fire", "cable"))
    first = qa.engine.stats.cached_tokens - before
    qa.ask(Pair("2", SENT, "cable", "kitchen"))
    second = qa.engine.stats.cached_tokens - before - first
    sentence = len(qa.engine.tokenize(QAPrompt.sentence(SENT), special=False))
    assert first >= len(qa._prefix)                  # the instruction is reused across sentences
    assert second >= len(qa._prefix) + sentence      # and the sentence across its pairs


def test_records_keep_going_after_bad_pairs(qa):
    out = list(qa.records(read_pairs([str(FIXTURES / "qa4re_bad.jsonl")]), all_options=True))
    assert [r["id"] for r in out] == ["ok1", "no-head", "not-in-text", "bad-schema", "pruned",
                                      "qa4re_bad.jsonl:6", "ok2"]
    errors = {r["id"]: r["error"] for r in out if "error" in r}
    assert set(errors) == {"no-head", "not-in-text", "bad-schema", "pruned", "qa4re_bad.jsonl:6"}
    assert "unknown relation set" in errors["bad-schema"] and "empty option set" in errors["pruned"]
    ok = out[0]
    assert ok["letter"] in "ABCDEFGHIJKLMNOPQRS" and 0 < ok["confidence"] <= 1
    assert abs(sum(o["p"] for o in ok["options"]) - 1) < 1e-4
    if ok["relation"] is None:
        assert ok["triplet"] is None
    else:
        assert ok["triplet"][1] == ok["relation"] and {ok["triplet"][0], ok["triplet"][2]} == {"fire", "cable"}


# -- CLI --------------------------------------------------------------------------------------------------------------
def _lines(stdout: bytes) -> list[dict]:
    return [json.loads(x) for x in stdout.decode().splitlines()]


@pytest.mark.slow
def test_cli_root_flag_reads_stdin():
    r = run_cli("--qa4re", input=(FIXTURES / "qa4re_pairs.jsonl").read_bytes())
    assert r.returncode == 0, r.stderr
    out = _lines(r.stdout)
    assert [o["id"] for o in out] == ["p1", "p2", "p3", "4", "<stdin>:5", "5"]
    assert all({"head", "tail", "relation", "letter", "confidence", "reversed", "label"} <= set(o) for o in out)
    assert all(o["label"] == "Other" if o["relation"] is None else o["label"].startswith(o["relation"] + "(e")
               for o in out)
    assert out[2]["gold"] == "Entity-Destination(e1,e2)"


def test_cli_skip_and_stop():
    bad = str(FIXTURES / "qa4re_bad.jsonl")
    r = run_cli("qa4re", bad, "--on-error", "skip", "--answer", "grammar")
    assert r.returncode == 0, r.stderr
    out = _lines(r.stdout)
    assert len(out) == 7 and sum("error" in o for o in out) == 5
    assert out[0]["confidence"] is None and out[0]["letter"]  # the grammar path gives no confidence
    assert b"5 record(s) skipped" in r.stderr
    r = run_cli("qa4re", bad)
    assert r.returncode == 1
    assert [o["id"] for o in _lines(r.stdout)] == ["ok1"]     # what was written before the error stays
    err = r.stderr.decode().strip().splitlines()
    assert len(err) == 1 and 'missing "head"' in err[0] and "Traceback" not in r.stderr.decode()


def test_cli_verify_extract_output():
    r = run_cli("qa4re", "--verify", "-s", "conll04", "--on-error", "skip", str(FIXTURES / "qa4re_extract_out.jsonl"))
    assert r.returncode == 0, r.stderr
    out = _lines(r.stdout)
    assert [o.get("extracted_relation") for o in out] == ["Work_for", "Organization_based_in", None]
    assert all(isinstance(o["agrees"], bool) for o in out[:2]) and "error" in out[2]
    assert "reversed" not in out[0]  # conll04 takes pairs in the given direction
    r = run_cli("qa4re", "--verify", "--on-error", "skip", str(FIXTURES / "qa4re_extract_out.jsonl"))
    assert "'Work_for' is not in schema semeval" in _lines(r.stdout)[0]["error"]
    r = run_cli("qa4re", "--verify", "-s", "ade", "--on-error", "skip", str(FIXTURES / "qa4re_extract_out.jsonl"))
    assert r.returncode == 0 and "warning: --verify with the one-relation schema 'ade'" in r.stderr.decode()


def test_cli_unknown_relation_set_stops_cleanly():
    r = run_cli("qa4re", "-s", "no-such-set", input=b'{"text": "a b", "head": "a", "tail": "b"}\n')
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().count("\n") == 1 and "neither a built-in" in r.stderr.decode()


def test_cli_unopenable_pair_file_stops_before_any_answer(tmp_path):
    good = str(FIXTURES / "qa4re_pairs.jsonl")
    for args in ((good, str(tmp_path / "gone.jsonl")),
                 ("--answer", "entail", "--prior-from", str(tmp_path / "gone.jsonl"), good)):
        r = run_cli("qa4re", *args)
        err = r.stderr.decode()
        assert r.returncode == 1 and r.stdout == b"", err
        assert "gone.jsonl: no such file" in err and err.count("\n") == 1


def test_too_long_question_is_a_record_error(qa):
    text = "word " * 3000 + "fire and cable"
    out = list(qa.records([Pair("long", text, "fire", "cable")]))
    assert "more than the context" in out[0]["error"]


@pytest.mark.slow
def test_fine_tuned_semeval_model_is_picked_and_answers_by_content(default_model, engine):
    """Without --model, the semeval relation set gets smollm2-135m-qa4re-semeval (built at first use from the
    shipped adapter), which judges each option statement alone: the same labels in the schema's order and
    shuffled. On 12 sentences written for this test (one or two per relation, plus Other) it got 10 right when
    this was written (the letter model it replaced in stop 33: 8); the untuned base answers by letter position (D
    or A) and gets at most 2."""
    pairs = list(read_pairs([str(FIXTURES / "qa4re_labelled.jsonl")]))
    tuned = QA4RE(None, "semeval", n_threads=2)
    assert tuned.model.spec.name == "smollm2-135m-qa4re-semeval" and tuned.answer_mode == "entail"
    labels = [r["label"] for r in tuned.records(pairs)]
    tuned.shuffle = True
    assert [r["label"] for r in tuned.records(pairs)] == labels
    tuned.close()
    right = [label == p.extra["gold"] for label, p in zip(labels, pairs)]
    base = QA4RE(schema="semeval", engine=engine, resolved=default_model)
    base_right = [r["label"] == r["gold"] for r in base.records(pairs)]
    assert sum(right) >= 8 and sum(base_right) <= 3, (labels, base_right)


@pytest.mark.slow
def test_entail_model_reads_the_statements_in_any_order():
    """smollm2-135m-qa4re-entail (built at first use from the shipped adapter) on the same 12 sentences: the
    same labels in the schema's order and shuffled, and most of them right (10 of 12 when this was written). The letter-trained model loses its answers when the options are shuffled."""
    pairs = list(read_pairs([str(FIXTURES / "qa4re_labelled.jsonl")]))
    entail = QA4RE("smollm2-135m-qa4re-entail", "semeval", n_threads=2)
    assert entail.answer_mode == "entail"
    fixed = [r["label"] for r in entail.records(pairs)]
    entail.shuffle = True
    shuffled = [r["label"] for r in entail.records(pairs)]
    entail.close()
    assert fixed == shuffled
    right = sum(f == p.extra["gold"] for f, p in zip(fixed, pairs))
    assert right >= 8, fixed


def test_cli_root_flag_takes_the_subcommand_options():
    """`kgc-lite --qa4re --schema conll04 --threads 1` works as the design card writes it, options and all."""
    r = run_cli("--qa4re", "--schema", "conll04", "--threads", "1",
                input=b'{"id": "g", "text": "Bill Gates founded Microsoft .", "head": "Bill Gates", "tail": "Microsoft"}\n')
    assert r.returncode == 0, r.stderr
    out = _lines(r.stdout)
    assert len(out) == 1 and out[0]["id"] == "g"
    assert out[0]["relation"] in (None, "Work_for", "Organization_based_in", "Located_in", "Live_in", "Kill")
    bad = run_cli("--qa4re", "--schema", "no-such-set", input=b'{"text": "a b", "head": "a", "tail": "b"}\n')
    assert bad.returncode == 1 and b"Traceback" not in bad.stderr
    assert run_cli("--qa4re", "--help").stdout.startswith(b"Usage: kgc-lite")


@pytest.mark.skipif(not _has_fewrel(), reason="FewRel data not found")
@pytest.mark.slow
def test_eval_held_out_relations_as_multiple_choice(tmp_path):
    out = tmp_path / "r.json"
    r = run_cli("eval", "-d", "fewrel", "--split", "unseen_5_seed_0", "--qa4re", "--sample", "6", "-k", "2",
                "-m", "smollm2-135m-qa4re", "--threads", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    m = doc["runs"][0]["metrics"]
    assert m["n"] == 6 and sorted(m["relations"]) == sorted(
        ["competition_class", "location", "operating_system", "owned_by", "religion"])
    assert 0 <= m["accuracy"] <= 100 and sum(m["letter_histogram"].values()) == 6
    assert "shuffled" in doc["config"]["option_order"] and doc["config"]["permutations"] == 2
    bad = run_cli("eval", "-d", "conll04", "--qa4re")
    assert bad.returncode == 2 and "zero-shot split" in bad.stderr.decode()
    bad = run_cli("eval", "-d", "conll04", "--answer", "entail")
    assert bad.returncode == 2 and "QA4RE options" in bad.stderr.decode()
    # without --model, the model that reads any relation set; its answers need no order
    entail = run_cli("eval", "-d", "fewrel", "--split", "unseen_5_seed_0", "--qa4re", "--sample", "3", "-k", "2",
                     "--threads", "1")
    assert entail.returncode == 1 and "do not depend on the order" in entail.stderr.decode()
    assert entail.stderr.decode().count("\n") == 1


@pytest.mark.slow
def test_eval_own_schema_gold_as_multiple_choice(tmp_path):
    """`eval --qa4re --gold FILE --schema FILE`: a user's relation set, read by the model that reads any set."""
    out = tmp_path / "r.json"
    r = run_cli("eval", "--qa4re", "--gold", "examples/railways/railways.jsonl", "--schema",
                "examples/railways/railways.toml", "--sample", "8", "--threads", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    m = doc["runs"][0]["metrics"]
    assert m["n"] == 8 and m["of"] > 8 and doc["data"]["schema"] == "railways"
    assert m["model"] == "smollm2-135m-qa4re-entail" and doc["config"]["answer"] == "entail"


def test_an_answer_is_evaluated_alike_whatever_was_asked_before(engine, default_model, monkeypatch):
    """llama.cpp's CPU results vary slightly with how tokens are batched (one SemEval pair's log-odds of yes
    differed by 0.16 median between two orders with Qwen2.5-Coder-1.5B Q4_K_M, stop 27), so a pair's prompts
    must be evaluated in the same batches from the same cache position whatever pair came before it and
    whatever order its options are in: the instruction prefix, then the pair's shared part, then each option."""
    batches = []
    real_eval = engine.llm.eval
    monkeypatch.setattr(engine.llm, "eval", lambda tokens: (batches.append((engine.llm.n_tokens, tuple(tokens))),
                                                            real_eval(tokens))[1])
    pair = Pair("p", "Mary Jones was born in Dublin , Ireland .", "Mary Jones", "Dublin")
    seen = []
    for answer in ("entail", "logits"):
        for seed, before in ((0, Pair("a", "Mary Jones works for IBM .", "Mary Jones", "IBM")),
                             (1, Pair("b", "Armonk is in New York .", "Armonk", "New York"))):
            qa = QA4RE(schema=load_schema("conll04"), engine=engine, resolved=default_model, answer=answer,
                       shuffle=answer == "entail", seed=seed)
            qa.ask(before)
            del batches[:]
            ans = qa.ask(pair)
            seen.append((answer, sorted(batches), {o.key(): v for o, v in
                                                   zip(ans.options, ans.log_odds or ans.probs)}))
    (_, entail_0, odds_0), (_, entail_1, odds_1), (_, letters_0, probs_0), (_, letters_1, probs_1) = seen
    assert entail_0 == entail_1 and odds_0 == odds_1
    assert len(entail_0) == 1 + len(odds_0)  # the shared part once, then one batch per statement
    assert letters_0 == letters_1 and probs_0 == probs_1


def test_batched_statements_answer_alike_in_any_order_and_close_to_one_call_each(engine, default_model,
                                                                                  monkeypatch):
    """--entail-batch: a pair's statements go to llama.cpp in one batch (after its shared part), in a canonical
    order, so the answer depends neither on the option order nor on the pair asked before; the log-odds stay
    within llama.cpp's batching noise of one call per statement (the 135M judge: 0.04 median, 0.32 at most over
    100 SemEval pairs, experiments/speed/results/qa4re_bench_entail_batch_smollm2-135m-qa4re-entail.json)."""
    entail_model = resolve("smollm2-135m-qa4re-entail")
    from kgc_lite.runtime.engine import Engine
    judge = Engine(entail_model.path, n_ctx=2048, n_threads=2)
    decodes = []
    real_decode = judge._decode
    monkeypatch.setattr(judge, "_decode", lambda entries: (decodes.append(len(entries)), real_decode(entries))[1])
    pair = Pair("p", "Mary Jones was born in Dublin , Ireland .", "Mary Jones", "Dublin")
    seen = {}
    for batch in (True, False):
        for seed, before in ((0, Pair("a", "Mary Jones works for IBM .", "Mary Jones", "IBM")),
                             (1, Pair("b", "Armonk is in New York .", "Armonk", "New York"))):
            qa = QA4RE(schema=load_schema("conll04"), engine=judge, resolved=entail_model, answer="entail",
                       shuffle=True, seed=seed, entail_batch=batch)
            assert qa.evaluation == ("batched" if batch else "settled")
            qa.ask(before)
            del decodes[:]
            ans = qa.ask(pair)
            if batch:
                assert len(decodes) == 2  # the pair's shared part, then all its statements in one call
            seen[batch, seed] = ({o.key(): v for o, v in zip(ans.options, ans.log_odds)}, ans.chosen.key())
    assert seen[True, 0] == seen[True, 1]
    batched, one_each = seen[True, 0][0], seen[False, 0][0]
    assert batched.keys() == one_each.keys() and max(batched.values()) - min(batched.values()) > 2
    assert all(abs(batched[k] - one_each[k]) < 0.5 for k in batched), (batched, one_each)
    assert seen[True, 0][1] == seen[False, 0][1]
    judge.close()
    with pytest.raises(KgcError, match="entail answers"):
        QA4RE(schema="conll04", engine=engine, resolved=default_model, answer="logits", entail_batch=True)
