"""Detokenized copies, the FewRel / Wiki-ZSL zero-shot splits and metrics, and the multi-schema training data:
seeded reproducibility, held-out relations kept out, answers that parse and name only listed relations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kgc_lite.data.benchmarks import data_dir, load_gold, load_split
from kgc_lite.data.detok import detokenize, detokenize_example, trim_sentence_period
from kgc_lite.data.zero_rte import held_out_relations, load_zero_rte, relation_identifier
from kgc_lite.errors import KgcError
from kgc_lite.evaluation.scoring import zero_rte_metrics
from kgc_lite.prompting.grammar import SpanPieces
from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig
from kgc_lite.schema import load_schema
from kgc_lite.types import Example, Triplet

from .conftest import run_cli


def _has_data() -> bool:
    try:
        return (data_dir() / "fewrel" / "zero_rte").is_dir()
    except KgcError:
        return False


needs_data = pytest.mark.skipif(not _has_data(), reason="benchmark data not found")


# -- ordinary punctuation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("tokenized,plain", [
    ("Redmond , Washington .", "Redmond, Washington."),
    ("He was born ( 1994 ) in Ala. , did n't stay .", "He was born (1994) in Ala., didn't stay."),
    ("Lucille Ball 's career : 1911 _ Born", "Lucille Ball's career: 1911 _ Born"),
    ("Newspaper ` Explains ' U.S. Interests in the U.S. .", "Newspaper 'Explains' U.S. Interests in the U.S."),
    ('The viewers of " JFK " and Parks \' action -- fine', 'The viewers of "JFK" and Parks\' action -- fine'),
    ("we introduce `` one-time look up '' [ 2 ] ;", 'we introduce "one-time look up" [2];'),
    ("5-FU - induced ectropion at 20 micro g / g , 370 , 500 acres at 3 : 30", 
     "5-FU-induced ectropion at 20 micro g/g, 370,500 acres at 3:30"),
])
def test_detokenize(tokenized, plain):
    text, offsets = detokenize(tokenized)
    assert text == plain
    assert len(offsets) == len(tokenized.split())


def test_detokenized_mentions_stay_substrings_and_lose_a_swallowed_period():
    ex = Example("Bill Gates , who founded Microsoft ( MSFT ) , lives in Medina , Texas.", (
        Triplet("Bill Gates", "Work_for", "Microsoft ( MSFT )"), Triplet("Bill Gates", "Live_in", "Texas."),
        Triplet("Gates", "Live_in", "Medina , Texas.")))
    new, dropped, trimmed = detokenize_example(ex)
    assert new.text == "Bill Gates, who founded Microsoft (MSFT), lives in Medina, Texas."
    assert [t.key for t in new.triplets] == [("Bill Gates", "Work_for", "Microsoft (MSFT)"),
                                             ("Bill Gates", "Live_in", "Texas"), ("Gates", "Live_in", "Medina, Texas")]
    assert (dropped, trimmed) == (0, 2)
    kept, _, untrimmed = detokenize_example(ex, trim=False)
    assert kept.triplets[1].tail == "Texas." and untrimmed == 0
    assert trim_sentence_period("U.S.") == "U.S." and trim_sentence_period("Apple Inc.") == "Apple Inc."


def test_a_sentence_final_abbreviation_gets_its_period_back():
    """The tokenizer split "Mass." at the sentence's end into "Mass ." and the gold left the period out; in
    ordinary text the period is the abbreviation's ("Concord, Mass.", as "Apple Inc."). A word that is no
    abbreviation does not take the sentence's period."""
    ex = Example("Thoreau was born in Concord , Mass .", (
        Triplet("Thoreau", "Live_in", "Concord , Mass"), Triplet("Thoreau", "Live_in", "Mass ."),
        Triplet("Thoreau", "Live_in", "Concord")))
    new, dropped, trimmed = detokenize_example(ex)
    assert new.text == "Thoreau was born in Concord, Mass."
    assert [t.tail for t in new.triplets] == ["Concord, Mass.", "Mass.", "Concord"] and (dropped, trimmed) == (0, 1)
    assert detokenize_example(ex, trim=False)[0].triplets[0].tail == "Concord, Mass"
    plain = detokenize_example(Example("He was born in Concord .", (Triplet("He", "Live_in", "Concord"),)))[0]
    assert plain.triplets[0].tail == "Concord"


def test_a_mention_that_cannot_be_found_is_counted_not_kept():
    ex = Example("Ann met Bob .", (Triplet("Ann", "Kill", "Bob"), Triplet("Ann", "Kill", "Carl")))
    new, dropped, _ = detokenize_example(ex)
    assert dropped == 1 and [t.tail for t in new.triplets] == ["Bob"]


@needs_data
def test_conll04_test_detokenized_keeps_every_triplet_and_every_span_is_reachable():
    from kgc_lite.data.detok import detokenize_examples
    examples, stats = detokenize_examples(load_split("conll04", "test"))
    assert stats["dropped_triplets"] == 0
    for ex in examples:
        sp = SpanPieces(ex.text)
        assert " , " not in ex.text and not ex.text.endswith(" .")
        for t in ex.triplets:
            for mention in (t.head, t.tail):
                at = ex.text.find(mention)
                assert at >= 0
                assert any(sp.allowed(i, i + len(mention)) for i in range(len(ex.text))
                           if ex.text.startswith(mention, i)), mention


# -- zero-shot splits and metrics -------------------------------------------------------------------------
def test_relation_identifier():
    assert relation_identifier("position played on team / speciality") == "position_played_on_team_speciality"
    assert relation_identifier("place of birth") == "place_of_birth"


def test_zero_rte_metrics():
    gold = [Example("a", (Triplet("A", "r", "B"),), "0"), Example("b", (Triplet("C", "r", "D"),), "1"),
            Example("c", (Triplet("E", "r", "F"),), "2"),
            Example("d", (Triplet("G", "r", "H"), Triplet("G", "s", "I")), "3")]
    preds = {"0": [("A", "r", "B")], "1": [("C", "r", "D"), ("C", "r", "X")], "2": [("E", "s", "F"), ("E", "r", "F")],
             "3": [("G", "r", "H"), ("G", "r", "I")]}
    m = zero_rte_metrics(gold, preds)
    assert m["single_triplet_sentences"] == 3 and m["multi_triplet_sentences"] == 1
    assert m["single_triplet_accuracy"] == pytest.approx(2 / 3)        # the first triplet: 0 and 1 right
    assert m["single_triplet_exact_set_accuracy"] == pytest.approx(1 / 3)
    assert (m["multi_triplet"]["tp"], m["multi_triplet"]["fp"], m["multi_triplet"]["fn"]) == (1, 1, 1)


@needs_data
def test_fewrel_split_schema_is_the_test_relations_only():
    examples, relations, _ = load_zero_rte("fewrel", "unseen_5_seed_0")
    names = {r.identifier for r in relations}
    assert len(relations) == 5 and "religion" in names
    assert {t.relation for ex in examples for t in ex.triplets} <= names
    held = {r.id for r in held_out_relations("fewrel", "unseen_10_seed_0")}
    assert len(held) == 15 and "P140" in held  # religion: test; composer (P86): dev


@needs_data
def test_eval_cli_rejects_unknown_zero_shot_split():
    r = run_cli("eval", "--dataset", "fewrel", "--split", "test")
    assert r.returncode == 2
    err = r.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kgc-lite: error:") and "unseen_5_seed_0" in err[0]


# -- multi-schema training data ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multi():
    if not _has_data():
        pytest.skip("benchmark data not found")
    from kgc_lite.train.schema_mix import MultiSchemaData
    return MultiSchemaData(["kgc", "fewrel", "wikizsl"], seed=3)


def _picks(data, n=400):
    step = max(1, len(data) // n) | 1  # odd: both copies of sentences come up
    return range(0, len(data), step)


@needs_data
@pytest.mark.slow
def test_items_are_seeded(multi):
    from kgc_lite.train.schema_mix import MultiSchemaData
    again = MultiSchemaData(["kgc", "fewrel", "wikizsl"], seed=3)
    other = MultiSchemaData(["kgc", "fewrel", "wikizsl"], seed=4)
    picks = list(_picks(multi, 50))
    assert [multi.item(i) for i in picks] == [again.item(i) for i in picks]
    assert [multi.item(i)[0] for i in picks] != [other.item(i)[0] for i in picks]


@needs_data
def test_held_out_relations_never_appear(multi):
    held = {r.id for r in held_out_relations("fewrel", "unseen_10_seed_0")}
    held_names = {r.identifier for r in held_out_relations("fewrel", "unseen_10_seed_0")}
    assert multi.held_out_ids == held
    assert not held & set(multi.pools["wikidata"])
    for src in multi.sources:
        assert all(not held & set(keys) for keys in src.keys)
    wikidata = [s for s in multi.sources if s.family == "wikidata"]
    assert all(s.dropped_held_out > 0 for s in wikidata)
    descriptions = {r.description for r in held_out_relations("fewrel", "unseen_10_seed_0")}
    for i in _picks(multi):
        schema, _ = multi.item(i)
        assert not {r.description for r in schema.relations} & descriptions
        assert not {r.name for r in schema.relations} & held_names


@needs_data
def test_answers_parse_and_name_only_listed_relations(multi):
    seen = {"empty": 0, "neutral": 0, "detok": 0, "many": 0, "renamed": 0}
    usual = {r.name for pool in multi.pools.values() for r in pool.values()}
    for i in _picks(multi):
        schema, ex = multi.item(i)
        builder = PromptBuilder(schema, PromptConfig(icl=0))
        answer = builder.answer(ex.triplets)
        parsed = builder.parse(answer)
        assert [t.key for t in parsed] == list(dict.fromkeys(t.key for t in ex.triplets))
        assert {t.relation for t in parsed} <= set(schema.relation_names)
        assert all(t.head in ex.text and t.tail in ex.text for t in ex.triplets)
        assert len(schema.relations) <= 20
        neutral = all(n == f"R{k}" for k, n in enumerate(schema.relation_names, 1))
        seen["empty"] += not ex.triplets
        seen["neutral"] += neutral
        seen["detok"] += " ." not in ex.text
        seen["many"] += len(schema.relations) >= 10
        seen["renamed"] += bool(set(schema.relation_names) - usual) and not neutral
    assert all(v > 0 for v in seen.values()), seen


@needs_data
def test_joined_sentences_carry_every_fact_and_leave_other_runs_unchanged(multi):
    """--p-join: some Wikidata items become two or three sentences with all their triplets; the other items,
    and every item of a run without joins, are what they were."""
    from kgc_lite.train.schema_mix import AugmentOptions, MultiSchemaData
    joined = MultiSchemaData(["kgc", "fewrel", "wikizsl"], seed=3, aug=AugmentOptions(p_join=0.5))
    held_names = {r.identifier for r in held_out_relations("fewrel", "unseen_10_seed_0")}
    n_joined = 0
    for i in _picks(multi, 200):
        plain_schema, plain = multi.item(i)
        schema, ex = joined.item(i)
        source = multi.sources[multi.index[i][0]]
        if source.family != "wikidata":
            assert (schema, ex) == (plain_schema, plain)
            continue
        assert ex.text.startswith(plain.text)
        if ex.text == plain.text:
            assert (schema, ex) == (plain_schema, plain)
            continue
        n_joined += 1
        assert len(ex.triplets) > len(plain.triplets) or not plain.triplets
        assert all(t.head in ex.text and t.tail in ex.text for t in ex.triplets)
        assert {t.relation for t in ex.triplets} <= set(schema.relation_names)
        assert not set(schema.relation_names) & held_names
    assert 20 < n_joined < 150, n_joined
    again = MultiSchemaData(["fewrel"], seed=3, aug=AugmentOptions(p_join=0.5))
    first = MultiSchemaData(["fewrel"], seed=3, aug=AugmentOptions(p_join=0.5))
    assert [again.item(i) for i in range(0, 4000, 97)] == [first.item(i) for i in range(0, 4000, 97)]


@needs_data
def test_each_augmentation_turns_off():
    from kgc_lite.train.schema_mix import AugmentOptions, MultiSchemaData
    off = MultiSchemaData(["conll04"], seed=0, aug=AugmentOptions(shuffle=False, distractors=False, names=False,
                                                                  empty=False, detok=False))
    assert len(off) == len(load_split("conll04", "train"))
    for i in range(0, len(off), 7):
        schema, ex = off.item(i)
        names = schema.relation_names
        assert names == sorted(names) and ex.triplets
        assert set(names) == {t.relation for t in ex.triplets}
    on = MultiSchemaData(["conll04"], seed=0)
    assert len(on) == 2 * len(off)


@needs_data
def test_unknown_multi_source_and_held_out_form():
    from kgc_lite.train.schema_mix import MultiSchemaData
    with pytest.raises(KgcError, match="multi-schema training data"):
        MultiSchemaData(["fewrel", "tacred"])
    with pytest.raises(KgcError, match="--held-out"):
        MultiSchemaData(["fewrel"], held_out="unseen_10_seed_0")


@needs_data
def test_training_plans_steps_without_building_samples(multi):
    from kgc_lite.train import samples as td

    class Unbuilt:
        datasets = multi.datasets

        def __len__(self):
            return len(multi)

        def __getitem__(self, i):
            raise AssertionError("order() must not build samples")

    plan = td.order(Unbuilt(), 6, 4, 0, "kgc=1,fewrel=1,wikizsl=1")
    assert len(plan) == 6 and all(len({multi.datasets[i] for i in step}) == 1 for step in plan)
    assert plan == td.order(Unbuilt(), 6, 4, 0, "kgc=1,fewrel=1,wikizsl=1")


@needs_data
def test_multi_schema_training_refuses_icl_and_unknown_sources(tmp_path):
    from kgc_lite.train import loop as tr
    from kgc_lite.train import samples as td
    with pytest.raises(KgcError, match="--icl 0"):
        td.load_sources(tr.TrainOptions(data=("kgc", "fewrel"), icl=3))
    r = run_cli("train", "--data", "fewrel,tacred", "-o", str(tmp_path / "run"))
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode != 0 and len(err) == 1 and err[0].startswith("kgc-lite: error:") and "tacred" in err[0]


# -- the hand-labelled custom-schema sets (examples/) -------------------------------------------------------
@pytest.mark.parametrize("name", ["railways", "kitchen", "wildlife"])
def test_custom_schema_sets_are_consistent(name):
    """Each set's gold names only its schema's relations, every mention is in its sentence, ids are unique,
    and its README's counts (sentences, those with no triplet, gold triplets) are the file's."""
    folder = Path(__file__).resolve().parents[1] / "examples" / name
    schema = load_schema(folder / f"{name}.toml")
    gold = load_gold(folder / f"{name}.jsonl")
    assert len({ex.id for ex in gold}) == len(gold)
    for ex in gold:
        for t in ex.triplets:
            assert t.relation in schema.relation_names, (ex.id, t)
            assert t.head in ex.text and t.tail in ex.text, (ex.id, t)
        assert len(set(ex.triplets)) == len(ex.triplets), ex.id
    readme = (folder / "README.md").read_text()
    counts = re.search(r"(\d+)\s+sentences.*?\((\d+)\s+with\s+no\s+triplet.*?(\d+)\s+gold\s+triplets\)", readme, re.S)
    assert counts, "the README gives its counts"
    assert [int(c) for c in counts.groups()] == [
        len(gold), sum(1 for ex in gold if not ex.triplets), sum(len(ex.triplets) for ex in gold)]
