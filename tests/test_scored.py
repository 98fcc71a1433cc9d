"""Scored extraction (experiments/scored-step/scored.py, an experiment not shipped): every relation fills its own
pair, and the fillings are ranked by their log-likelihood. Kept under test because it is built on the package's
readers and `Extractor.extract_scored`, which it would otherwise drift away from. The ranking rule is checked on
its own; the readers run on the real embedded model."""

from __future__ import annotations

import importlib.util
import io
import math
import sys
from pathlib import Path

import pytest

from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.io.inputs import read_stream
from kgc_lite.schema import load_schema
from kgc_lite.types import Triplet


def _experiment(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)  # registered first: dataclasses look it up
    spec.loader.exec_module(module)
    return module


_scored = _experiment("scored_step", Path(__file__).resolve().parents[1] / "experiments" / "scored-step" / "scored.py")
Candidate, Rule, ScoredExtractor = _scored.Candidate, _scored.Rule, _scored.ScoredExtractor


def cand(head, rel, tail, *probs):
    return Candidate(Triplet(head, rel, tail), tuple(probs))


def test_the_likeliest_filling_wins_and_its_confidence_is_its_softmax_share():
    a = cand("Ann", "born_in", "Rome", 0.9, 0.8)    # log-likelihood -0.33
    b = cand("Ann", "lives_in", "Rome", 0.5, 0.5)   # -1.39
    c = cand("Rome", "capital_of", "Italy", 0.1)    # -2.30
    kept = Rule().choose([b, c, a])
    assert [t.relation for t in kept] == ["born_in"]
    total = sum(math.exp(x.logprob) for x in (a, b, c))
    assert kept[0].confidence == pytest.approx(math.exp(a.logprob) / total)
    # a margin keeps the others within it, best first; None keeps every candidate
    assert [t.relation for t in Rule(margin=1.1).choose([b, c, a])] == ["born_in", "lives_in"]
    assert len(Rule(margin=None).choose([b, c, a])) == 3
    assert Rule().choose([]) == []


def test_per_token_mean_does_not_punish_a_longer_span():
    long = cand("The University of Chicago", "based_in", "Illinois", 0.9, 0.9, 0.9, 0.9, 0.9)
    short = cand("Chicago", "part_of", "Illinois", 0.7)
    assert Rule(mean=False).choose([long, short])[0].relation == "part_of"   # summed: -0.53 against -0.36
    assert Rule(mean=True).choose([long, short])[0].relation == "based_in"   # a token: -0.105 against -0.357


def test_a_duplicate_filling_is_kept_once():
    twice = [cand("A", "r", "B", 0.9), cand("A", "r", "B", 0.8)]
    assert len(Rule(margin=None).choose(twice)) == 1


SCHEMA = """
name = "companies"
[[relations]]
name = "founded_by"
description = "a company was founded by a person"
template = "{head} was founded by {tail}"
[[relations]]
name = "headquartered_in"
description = "a company has its headquarters in a place"
template = "{head} has its headquarters in {tail}"
"""

TEXTS = ["Larry Page co-founded Google with Sergey Brin in California.",
         "The bank is headquartered in Frankfurt."]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    path = tmp_path_factory.mktemp("scored") / "companies.toml"
    path.write_text(SCHEMA)
    return ScoredExtractor(load_schema(str(path)), "smollm2-135m", n_threads=2)


def test_every_relation_fills_a_pair_of_the_text_with_its_token_probabilities(scored):
    per_text = scored.candidates_many(TEXTS, batch=2)
    assert len(per_text) == len(TEXTS)
    for text, cands in zip(TEXTS, per_text):
        # one filling per relation (fills=1), and none may answer []
        assert sorted(c.triplet.relation for c in cands) == ["founded_by", "headquartered_in"]
        for c in cands:
            assert c.triplet.head in text and c.triplet.tail in text
            assert c.probs and all(0.0 < p <= 1.0 for p in c.probs)


def test_scored_probabilities_are_the_ones_confidence_takes_the_minimum_of(scored):
    reader = scored.readers[0]
    plain = Extractor(schema=reader.schema, options=reader.options, resolved=scored.model, engine=scored.engine)
    for found, scored_found in zip(plain.extract_many(TEXTS, 2), reader.extract_scored(TEXTS, 2)):
        assert [t.key for t in found] == [t.key for t, _ in scored_found]
        for t, (_, probs) in zip(found, scored_found):
            assert t.confidence == pytest.approx(min(probs))


def test_records_stream_one_line_per_unit_in_order_with_ranked_triplets(scored):
    docs = read_stream(io.BytesIO(("\n".join(TEXTS) + "\n").encode()), "stdin")
    records = list(scored.records(docs, batch=2))
    assert [r["text"] for r in records] == TEXTS
    for r in records:
        assert len(r["triplets"]) == 1  # the default rule keeps the best filling alone
        t = r["triplets"][0]
        assert 0.0 < t["confidence"] <= 1.0 and t["relation"] in ("founded_by", "headquartered_in")
        assert r["text"][t["head_span"][0] - r["start"]:t["head_span"][1] - r["start"]] == t["head"]


def test_extract_scored_needs_the_fast_decoder(scored):
    from kgc_lite.errors import KgcError
    plain = Extractor(schema=scored.readers[0].schema, options=ExtractOptions(icl=0, decoder="plain"),
                      resolved=scored.model, engine=scored.engine)
    with pytest.raises(KgcError, match="fast decoder"):
        plain.extract_scored(TEXTS)
