"""Ordinary text shown pre-tokenized to a model trained on pre-tokenized text (kgc_lite/prompting/retokenize.py), with
spans mapped back to the input's own characters."""

import pytest

from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.io.inputs import Document
from kgc_lite.models.resolve import resolve
from kgc_lite.prompting.retokenize import view

ORDINARY = "Satya Nadella, the chief executive of Microsoft, spoke in Redmond, Washington."
TOKENIZED = "Satya Nadella , the chief executive of Microsoft , spoke in Redmond , Washington ."


def test_view_splits_punctuation_and_keeps_abbreviations():
    assert view(ORDINARY).shown == TOKENIZED
    v = view('Apple Inc. (the maker) hired J. Ive, Lucille Ball\'s son, in the U.S. "today".')
    assert v.shown == 'Apple Inc. ( the maker ) hired J. Ive , Lucille Ball \'s son , in the U.S. " today " .'
    assert v.to_original("Apple Inc.") == "Apple Inc."
    assert v.to_original("Ball 's son") == "Ball's son"
    assert v.to_original("the maker ) hired") == "the maker) hired"
    assert v.to_original("not there") is None


def test_view_maps_spans_back_and_leaves_tokenized_text_alone():
    v = view(ORDINARY)
    assert v.to_original("Redmond , Washington") == "Redmond, Washington"
    assert v.to_original("Microsoft") == "Microsoft"
    assert view(TOKENIZED).shown == TOKENIZED  # already pre-tokenized: shown as it is
    assert view("Nothing to split here").shown == "Nothing to split here"


def test_a_clitic_already_standing_apart_keeps_its_apostrophe():
    # half-tokenized text (CoNLL04's "month 's" beside an attached "23-foot-tall"): "'s" is not a quote opening
    v = view("From last month 's summit, they 're back; 'Hello' she said.")
    assert v.shown == "From last month 's summit , they 're back ; ' Hello ' she said ."
    assert v.to_original("month 's summit") == "month 's summit"


@pytest.fixture(scope="module")
def tuned():
    r = resolve(None)
    assert r.spec.tokenized_text  # the shipped default learned from pre-tokenized text
    return Extractor(options=ExtractOptions(style=r.spec.prompt_style, icl=r.spec.icl), resolved=r, n_threads=2)


def test_extract_on_ordinary_text_is_extract_on_its_tokenized_form(tuned):
    """The model answers the tokenized form; the triplets come back in the input's characters, and their spans
    in the output record point at them."""
    texts = [ORDINARY, "Apple Inc. is based in Cupertino, California.", "Gandhi was killed by Godse in New Delhi."]
    got = tuned.extract_many(texts, batch=2)
    assert any(got)
    for text, triplets in zip(texts, got):
        shown = view(text)
        expected = {(shown.to_original(t.head), t.relation, shown.to_original(t.tail))
                    for t in tuned.extract(shown.shown)}
        assert {t.key for t in triplets} == expected
        assert all(t.head in text and t.tail in text for t in triplets)
    record = next(tuned.records(iter([Document("d", ORDINARY)])))
    for t in record["triplets"]:
        for role in ("head", "tail"):
            a, b = t[f"{role}_span"]
            assert ORDINARY[a:b] == t[role]


def test_retokenize_can_be_turned_off(tuned):
    off = Extractor(options=ExtractOptions(style="natural", icl=0, retokenize=False), resolved=tuned.model,
                    engine=tuned.engine)
    assert off.shown(ORDINARY) is None and tuned.shown(ORDINARY).shown == TOKENIZED
    assert off._request(ORDINARY).source == ORDINARY and tuned._request(ORDINARY).source == TOKENIZED
