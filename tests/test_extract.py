"""The Extractor library API with the real embedded model: batched and one-by-one decoding agree."""

import pytest

from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.io.inputs import BadRecord, Document

TEXTS = ["John Smith works for IBM in Armonk , New York .", "Lee Harvey Oswald killed John F. Kennedy in Dallas .",
         "Apple Inc. is based in Cupertino , California .", "Nothing to see here .",
         "Maria Lopez , an engineer at Siemens , lives in Munich .", "Gandhi was killed by Godse in New Delhi ."]


@pytest.fixture(scope="module")
def extractor(default_model, engine):
    return Extractor(options=ExtractOptions(style="code"), resolved=default_model, engine=engine)


@pytest.mark.slow
def test_batched_decoding_matches_one_by_one(extractor):
    one_by_one = [[t.key for t in extractor.extract(x)] for x in TEXTS]
    batched = [[t.key for t in ts] for ts in extractor.extract_many(TEXTS, batch=4)]
    assert len(batched) == len(TEXTS)
    # Batched matrix products round differently, which can flip a near-tie in greedy decoding. This untuned
    # model in code style is full of near-ties (tests/test_decoding.py holds the tuned default to 1 in 8).
    same = sum(a == b for a, b in zip(one_by_one, batched))
    assert same >= len(TEXTS) // 2, (one_by_one, batched)
    assert any(one_by_one), "the model found no triplet at all in texts full of relations"


def test_records_keep_input_order_around_bad_records(extractor):
    docs = [Document("a", TEXTS[0]), BadRecord("b", "bad line"), Document("c", TEXTS[1] + " " + TEXTS[2])]
    records = list(extractor.records(iter(docs), batch=3))
    assert [(r["id"], r.get("chunk")) for r in records] == [("a", 0), ("b", None), ("c", 0), ("c", 1)]
    assert records[1] == {"id": "b", "error": "bad line"}


def test_entities_are_spans_of_the_text(extractor):
    for text, found in zip(TEXTS, extractor.extract_many(TEXTS, batch=3)):
        for t in found:
            assert t.head in text and t.tail in text and t.head != t.tail
            assert t.relation in extractor.schema.relation_names
