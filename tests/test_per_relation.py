"""Stage-1 candidates read one relation at a time (`extract --two-stage --reader-model`): the reader's training
data, the judge's mined wrong pairs, and the reader's fills on a schema of this test's own."""

from __future__ import annotations

import json

from kgc_lite.schema import load_schema
from kgc_lite.train.schema_mix import AugmentOptions, MultiSchemaData

from .conftest import run_cli
from .test_schema_data import needs_data
from .test_two_stage import SCHEMA, TEXT


@needs_data
def test_one_relation_reader_data_lists_one_relation_and_answers_it_or_nothing():
    multi = MultiSchemaData(("fewrel", "conll04"), seed=1,
                            aug=AugmentOptions(min_relations=1, max_relations=1, p_empty=0.5, detok=False))
    empty = n = 0
    for i in range(0, len(multi), 151):
        schema, ex = multi.item(i)
        n += 1
        assert len(schema.relations) == 1
        assert all(t.relation == schema.relations[0].name for t in ex.triplets)
        empty += not ex.triplets
    assert 0.3 < empty / n < 0.7   # about half the prompts name a relation the sentence does not hold


@needs_data
def test_mined_wrong_pairs_become_none_of_the_above_questions_against_their_own_relation(tmp_path):
    from kgc_lite.data.zero_rte import held_out_relations
    from kgc_lite.train.qa4re_samples import entail_statements, training_questions
    mined = tmp_path / "mined.jsonl"
    rows = [{"id": "fewrel:1", "text": "Dark Horse Comics published The Guild , and Image Comics One Model Nation .",
             "head": "One Model Nation", "tail": "Dark Horse Comics", "relation": "P123"},
            {"id": "fewrel:2", "text": "Oslo is the capital of Norway .", "head": "Oslo", "tail": "capital",
             "relation": "P17"}]
    mined.write_text("".join(json.dumps(r) + "\n" for r in rows))
    held = {r.id for r in held_out_relations("fewrel", "unseen_10_seed_0")}
    got = list(training_questions([str(mined)], seed=0))
    assert len(got) == 2
    for (source, pair, options, target), row in zip(got, rows):
        assert source == str(mined) and (pair.head, pair.tail) == (row["head"], row["tail"])
        assert target.relation is None
        relations = [o.relation for o in options if o.relation]
        assert len(relations) == 2 and not held & set(relations)
        answers = dict((o.relation, word) for o, word in entail_statements(pair, options, target))
        assert answers[None] == "yes" and all(answers[r] == "no" for r in relations)  # its own relation: no


def test_a_reader_fills_every_relation_of_the_schema_with_spans_of_the_text(tmp_path):
    from kgc_lite.extract.per_relation import RelationReader
    path = tmp_path / "companies.toml"
    path.write_text(SCHEMA)
    schema = load_schema(str(path))
    # any extractor can read one relation at a time; the shipped one keeps the test independent of a reader
    reader = RelationReader(schema, "smollm2-135m-kg", n_threads=2)
    texts = TEXT.splitlines()
    for text, filled in zip(texts, reader.fill_many(texts)):
        assert {t.relation for t in filled} <= set(schema.relation_names)
        # the grammar forbids [], so each relation gets a pair (a head equal to its tail is dropped)
        assert len({t.relation for t in filled}) >= 2
        assert all(t.head in text and t.tail in text and t.head != t.tail for t in filled)


def test_reader_model_belongs_to_two_stage():
    done = run_cli("extract", "--one-pass", "--reader-model", "smollm2-135m-kg", input=b"x\n")
    assert done.returncode == 2 and "belong to --two-stage" in done.stderr.decode()
    assert done.stderr.decode().count("\n") == 1 and b"Traceback" not in done.stderr
