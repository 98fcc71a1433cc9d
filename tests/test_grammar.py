"""The answer grammars: every gold answer is accepted, and nothing outside the schema or the text is."""

import pytest

from kgc_lite.data import Triplet
from kgc_lite.grammar import TripletGrammar, entity_span_rules, letter_grammar
from kgc_lite.prompts import PromptBuilder, PromptConfig
from kgc_lite.schema import load_schema

TEXT = 'Ann Lee , a lawyer at "Smith & Co" in Boston\\MA , met Tom Hanks .'
GOOD = [Triplet("Ann Lee", "Work_for", '"Smith & Co"'), Triplet("Smith & Co", "Organization_based_in", "Boston\\MA"),
        Triplet("Tom Hanks", "Live_in", "Boston")]


@pytest.mark.parametrize("style", ["natural", "code"])
@pytest.mark.parametrize("rationale", [False, True])
def test_gold_answers_are_accepted(engine, style, rationale):
    schema = load_schema("conll04")
    config = PromptConfig(style=style, rationale=rationale)
    grammar = TripletGrammar(schema, config).for_text(TEXT)
    builder = PromptBuilder(schema, config)
    assert engine.grammar_accepts(grammar, builder.answer(GOOD))
    assert engine.grammar_accepts(grammar, builder.answer([]))


@pytest.mark.parametrize("style", ["natural", "code"])
def test_entities_outside_the_text_and_unknown_relations_are_rejected(engine, style):
    schema = load_schema("conll04")
    config = PromptConfig(style=style)
    grammar = TripletGrammar(schema, config).for_text(TEXT)
    builder = PromptBuilder(schema, config)
    assert not engine.grammar_accepts(grammar, builder.answer([Triplet("Ann Smith", "Work_for", "Tom Hanks")]))
    assert not engine.grammar_accepts(grammar, builder.answer([Triplet("Ann Le", "Work_for", "Tom Hanks")]))
    assert not engine.grammar_accepts(grammar, builder.answer([Triplet("Ann Lee", "Likes", "Tom Hanks")]))
    # Free mode admits any string, still only schema relations.
    free = TripletGrammar(schema, config, entities="free").for_text(TEXT)
    assert engine.grammar_accepts(free, builder.answer([Triplet("Ann Smith", "Work_for", "Tom Hanks")]))
    assert not engine.grammar_accepts(free, builder.answer([Triplet("Ann Lee", "Likes", "Tom Hanks")]))


def test_triplet_count_is_bounded(engine):
    schema = load_schema("conll04")
    config = PromptConfig()
    grammar = TripletGrammar(schema, config, max_triplets=2).for_text(TEXT)
    builder = PromptBuilder(schema, config)
    assert engine.grammar_accepts(grammar, builder.answer(GOOD[:2]))
    assert not engine.grammar_accepts(grammar, builder.answer(GOOD))


def test_spans_do_not_cross_line_breaks(engine):
    schema = load_schema("conll04")
    config = PromptConfig()
    text = "Ann Lee\nworks for Acme"
    grammar = TripletGrammar(schema, config).for_text(text)
    builder = PromptBuilder(schema, config)
    assert engine.grammar_accepts(grammar, builder.answer([Triplet("Ann Lee", "Work_for", "Acme")]))
    assert not engine.grammar_accepts(grammar, builder.answer([Triplet("Lee\nworks", "Work_for", "Acme")]))


def test_span_grammar_grows_linearly():
    words = " ".join(f"w{i}" for i in range(400))
    assert len(entity_span_rules(words)) < 60 * 400


def test_letter_grammar(engine):
    grammar = letter_grammar(["A", "B", "C"])
    assert engine.grammar_accepts(grammar, "B")
    assert not engine.grammar_accepts(grammar, "D")
