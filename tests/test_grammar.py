"""The answer grammars: every gold answer is accepted, and nothing outside the schema or the text is."""

import pytest

from kgc_lite.prompting.grammar import SpanPieces, TripletGrammar, entity_span_rules, letter_grammar
from kgc_lite.prompting.prompts import PromptBuilder, PromptConfig
from kgc_lite.schema import load_schema
from kgc_lite.types import Triplet

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


@pytest.mark.parametrize("style", ["natural", "code"])
def test_a_reader_asked_to_fill_may_not_answer_nothing(engine, style):
    schema = load_schema("conll04")
    config = PromptConfig(style=style)
    grammar = TripletGrammar(schema, config, at_least_one=True).for_text(TEXT)
    builder = PromptBuilder(schema, config)
    assert engine.grammar_accepts(grammar, builder.answer(GOOD[:1]))
    assert engine.grammar_accepts(grammar, builder.answer(GOOD))
    assert not engine.grammar_accepts(grammar, builder.answer([]))


def test_spans_do_not_cross_line_breaks(engine):
    schema = load_schema("conll04")
    config = PromptConfig()
    text = "Ann Lee\nworks for Acme"
    grammar = TripletGrammar(schema, config).for_text(text)
    builder = PromptBuilder(schema, config)
    assert engine.grammar_accepts(grammar, builder.answer([Triplet("Ann Lee", "Work_for", "Acme")]))
    assert not engine.grammar_accepts(grammar, builder.answer([Triplet("Lee\nworks", "Work_for", "Acme")]))


PLAIN = "Tim Cook of Apple Inc. lives in Cupertino, California. He met Dr. Smith in St. Louis, in the U.S."


def _accepts_entity(engine, text: str, mention: str) -> bool:
    schema = load_schema("conll04")
    config = PromptConfig()
    grammar = TripletGrammar(schema, config).for_text(text)
    other = text.split()[0]  # the tail: any span of the text
    return engine.grammar_accepts(grammar, PromptBuilder(schema, config).answer([Triplet(mention, "Work_for",
                                                                                          other)]))


@pytest.mark.parametrize("mention,ok", [
    ("California", True), ("California.", False), ("Cupertino,", False), ("Cupertino, California", True),
    ("Apple Inc.", True), ("Apple Inc", True), ("Dr.", True), ("Dr. Smith", True), ("St. Louis", True),
    ("Louis,", False), ("U.S.", True), ("the U.S.", True), ("Cupertino, California. He", True)])
def test_spans_do_not_swallow_sentence_punctuation(engine, mention, ok):
    assert _accepts_entity(engine, PLAIN, mention) is ok


@pytest.mark.parametrize("mention,ok", [
    ("Microsoft (MSFT)", True), ("(MSFT)", True), ("MSFT", True), ("MSFT)", False), ("3%)", False),
    ("(by 3%)", True), ("(by 3%).", False), ("Microsoft (", False), ('"Redmond Daily"', True),
    ('Redmond Daily"', False), ('"Redmond', False), ("said:", False), (", said", False), ("MSFT) rose", False),
    ("(by 3", False), ("Microsoft (MSFT) rose", True)])
def test_closing_brackets_and_quotes_need_their_opener(engine, mention, ok):
    text = 'Microsoft (MSFT) rose (by 3%). The "Redmond Daily" said: fine!'
    assert _accepts_entity(engine, text, mention) is ok


def test_tokenized_text_keeps_its_spans_but_not_a_spaced_sentence_period(engine):
    """A sentence's period split off by the tokenizer ends no span; one split off an abbreviation still belongs to
    it ("N.Y .", "Mich .", as CoNLL04's tokenizer left sentence-final abbreviations and its gold often has them)."""
    text = "He lives in Redmond , Washington . ( By ITAR-TASS ) N.Y . He came from Lansing , Mich ."
    assert _accepts_entity(engine, text, "Redmond , Washington")
    assert _accepts_entity(engine, text, "( By ITAR-TASS )")
    assert not _accepts_entity(engine, text, "Washington .")
    assert _accepts_entity(engine, text, "N.Y .") and _accepts_entity(engine, text, "Lansing , Mich .")
    assert _accepts_entity(engine, text, "Lansing , Mich")
    assert not _accepts_entity(engine, "Lansing, Mich .", "Mich .")  # not pre-tokenized: a stray period


@pytest.mark.parametrize("text", [PLAIN[:60], 'A (b "c" d) e, f. G "h (i) j" k; (l [m] n) o.', "x ) y ( z \" w",
                                  "In Flint , Mich . Inc ."])
def test_span_rules_agree_with_span_pieces(engine, text):
    """The grammar accepts exactly the spans SpanPieces.allowed names, for every pair of word boundaries."""
    sp = SpanPieces(text)
    checked = 0
    for a, _ in sp.words:
        for _, b in sp.words:
            if b > a:
                assert _accepts_entity(engine, text, text[a:b]) is sp.allowed(a, b), text[a:b]
                checked += 1
    assert checked >= 28


def test_span_grammar_grows_linearly():
    words = " ".join(f"w{i}" for i in range(400))
    assert len(entity_span_rules(words)) < 60 * 400
    # brackets add one chain per bracketed stretch, not one per start
    bracketed = " ".join(f"w{i} ( x{i} )" for i in range(100))
    assert len(entity_span_rules(bracketed)) < 2 * 60 * 400


def test_letter_grammar(engine):
    grammar = letter_grammar(["A", "B", "C"])
    assert engine.grammar_accepts(grammar, "B")
    assert not engine.grammar_accepts(grammar, "D")


def test_words_mode_admits_the_tokenized_gold_cut(engine):
    """--entities words is the old whole-words rule: 'Texas.' (as CoNLL04's gold has it) is a span there, not
    under the default clean-edges rule; both reject words that are not in the text."""
    schema = load_schema("conll04")
    config = PromptConfig(style="natural")
    text = "The plant is in Dallas, Texas."
    builder = PromptBuilder(schema, config)
    swallowed = builder.answer([Triplet("Dallas", "Located_in", "Texas.")])
    clean = builder.answer([Triplet("Dallas", "Located_in", "Texas")])
    words = TripletGrammar(schema, config, entities="words").for_text(text)
    strict = TripletGrammar(schema, config).for_text(text)
    assert engine.grammar_accepts(words, swallowed) and engine.grammar_accepts(words, clean)
    assert engine.grammar_accepts(strict, clean) and not engine.grammar_accepts(strict, swallowed)
    assert not engine.grammar_accepts(words, builder.answer([Triplet("Dallas", "Located_in", "Ohio")]))
    # Pre-tokenized text: its tokenizer already split off sentence punctuation, so "Texas." is a whole token.
    tokenized = "The plant is in Dallas , Texas."
    assert engine.grammar_accepts(TripletGrammar(schema, config).for_text(tokenized), swallowed)


@pytest.mark.parametrize("style", ["natural", "code"])
def test_a_cap_of_one_triplet_admits_exactly_one(engine, style):
    """scored.py asks each relation for one filling: max_triplets=1 with at_least_one (no {0,0} repeat, which
    the grammar compiler refuses)."""
    schema = load_schema("conll04")
    config = PromptConfig(style=style)
    grammar = TripletGrammar(schema, config, max_triplets=1, at_least_one=True).for_text(TEXT)
    builder = PromptBuilder(schema, config)
    assert engine.grammar_accepts(grammar, builder.answer(GOOD[:1]))
    assert not engine.grammar_accepts(grammar, builder.answer(GOOD[:2]))
    assert not engine.grammar_accepts(grammar, builder.answer([]))
