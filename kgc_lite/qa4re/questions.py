"""QA4RE: relation classification as multiple-choice QA (Zhang et al., ACL Findings 2023). This module holds the
pairs, options and prompts; kgc_lite/qa4re/classifier.py asks them on a model.

For a sentence and an entity pair, every candidate relation becomes a statement about the pair
("audits is about waste"), the statements become lettered options, and the model answers with one letter:

    Determine which option can be inferred from the given sentence.
    Sentence: The most common audits were about waste and recycling.
    Options:
    A. audits causes waste
    ...
    S. audits has no known relations to waste
    Which option can be inferred from the given sentence?
    <answer: one letter>

Options come from a schema (kgc_lite/schema.py): one per relation, pruned by the entity types of the pair when
given; with `directions = "both"` (SemEval) one per direction. A none-of-the-above option is always offered.
The order is the schema's (relation by relation, forward before reverse, none last) unless shuffled with a seed.
With `permutations` K > 1 each question is asked in K orders (the order above and evenly spread cyclic shifts of
it) and each option's probability is averaged over them, which cancels a preference for letters or positions.

Pairs are read from files in kgc_lite/qa4re/pairs.py, training questions are built in kgc_lite/train/qa4re_samples.py,
scoring is in kgc_lite/evaluation/qa4re.py, and the entail prior is kgc_lite/qa4re/prior.py.

A third way, "entail", asks about one statement at a time ("Statement: cable causes fire. Can the statement be
inferred from the sentence? Answer yes or no.") and picks the option whose "yes" is most probable. It is free of
option order by construction. A 135M model needs training for it (`kgc-lite train --task qa4re --answer
entail`); an untuned 1.5B chat model answers it zero-shot, optionally after a few written yes/no demonstrations
(ENTAIL_EXAMPLES, `--entail-examples`). The instruction and sentence are evaluated once per pair, then only each
statement's tokens; with `--entail-layout question-first` the question comes once after the sentence, so only
each statement and the end of the turn are evaluated per option (about half the tokens).

Two letter answers, which agree by construction (same letter tokens, same logits):
- "logits" (default): one forward pass, then the logits of the offered letters; softmax over them is the
  confidence. No sampling loop.
- "grammar": greedy generation under the GBNF letter grammar (grammars/qa4re_letter.gbnf).
The prompt is tokenized in three parts (instruction prefix, sentence, options + question) joined as token lists,
so the engine keeps the KV cache of the instruction for every pair and of the sentence for consecutive pairs of
the same sentence.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from kgc_lite.errors import InputError, KgcError
from kgc_lite.prompting.prompts import _assistant_open, _turn
from kgc_lite.schema import Schema

LETTERS = string.ascii_uppercase


ANSWER_MODES = ("logits", "grammar", "entail")


INSTRUCTION = "Determine which option can be inferred from the given sentence."


QUESTION = "Which option can be inferred from the given sentence?"


ENTAIL_INSTRUCTION = "Determine whether the statement can be inferred from the given sentence."


ENTAIL_QUESTION = "Can the statement be inferred from the sentence? Answer yes or no."


ENTAIL_LAYOUTS = ("statement-first", "question-first")


YES, NO = "yes", "no"  # what the entail models are trained to answer


# An untuned chat model answers "Yes" / "No" (Qwen2.5 puts over 90% of its mass there), so P(yes) counts both
# casings of each word: P(yes) = (p(yes) + p(Yes)) / (p(yes) + p(Yes) + p(no) + p(No)).
# Written yes/no demonstrations for entail answers (`--entail-examples N` asks with the first N as earlier chat
# turns). Written for kgc-lite: no sentence of SemEval or FewRel, and relation kinds that are none of SemEval's
# (employment, authorship, a plausible fact the sentence does not state); yes and no alternate, one "no" is a
# reversed direction. They show an untuned chat model that "no" is a common answer; a model fine-tuned on entail
# questions was trained without them and should be asked without them (models.toml entail_examples, default 0).
ENTAIL_EXAMPLES = (
    ("Last spring the museum hired Ana Ruiz to restore its collection of old maps.",
     "Ana Ruiz works for the museum", YES),
    ("Last spring the museum hired Ana Ruiz to restore its collection of old maps.",
     "the museum works for Ana Ruiz", NO),
    ("The novel, set in a small fishing village, was written by a retired teacher.",
     "the novel was written by a retired teacher", YES),
    ("The newspaper's front page covered the river floods and the mayor's election.",
     "the mayor lives near the river", NO),
)


NONE_TEMPLATE = "{head} has no known relations to {tail}"


OTHER = "Other"  # SemEval's label for none of the above


# -- pairs and options ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """One question: a sentence and an entity pair (head and tail are mentions in the text)."""
    id: str
    text: str
    head: str
    tail: str
    head_type: str | None = None
    tail_type: str | None = None
    schema: str | None = None                    # a per-record relation set (built-in name or file), if any
    extra: dict = field(default_factory=dict, compare=False)  # passed through to the output record


@dataclass(frozen=True)
class Option:
    letter: str
    relation: str | None      # None: none of the above
    reversed: bool            # True: the statement reads tail -> head
    statement: str

    def directed_label(self) -> str:
        """SemEval-style label: 'Cause-Effect(e1,e2)' (head = e1), 'Cause-Effect(e2,e1)', or 'Other'."""
        if self.relation is None:
            return OTHER
        return f"{self.relation}({'e2,e1' if self.reversed else 'e1,e2'})"

    def key(self) -> str:
        """The option's name in an entail prior and in prediction files: the relation, "(e2,e1)" appended when
        the statement reads tail -> head, "Other" for none of the above."""
        return self.directed_label() if self.relation is None or self.reversed else self.relation

    def as_dict(self) -> dict:
        return {"letter": self.letter, "relation": self.relation, "reversed": self.reversed,
                "statement": self.statement}


def check_pair(pair: Pair) -> None:
    """Raise InputError for a pair that cannot be asked about."""
    for role in ("head", "tail"):
        value = getattr(pair, role)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"record {pair.id}: missing {role}")
        if value not in pair.text:
            raise InputError(f"record {pair.id}: {role} {value!r} does not occur in the text")
    if not pair.text.strip():
        raise InputError(f"record {pair.id}: empty text")


def option_label(i: int) -> str:
    """The i-th option's letter: A-Z, then AA, AB, ... (beyond Z only for entail answers, which name no letter)."""
    return LETTERS[i] if i < len(LETTERS) else option_label(i // len(LETTERS) - 1) + LETTERS[i % len(LETTERS)]


def build_options(schema: Schema, pair: Pair, shuffle: bool = False, seed: int = 0,
                  lettered: bool = True) -> list[Option]:
    """The lettered options for a pair: relations allowed by the pair's entity types, then none of the above.

    Raises InputError when a type is not one of the schema's, or when no relation fits the types; with
    `lettered` (a one-letter answer) KgcError beyond 26 options. Entail answers judge each statement on its own,
    so they take any number (a schema of 13 relations in both directions gives 27).
    """
    for role in ("head_type", "tail_type"):
        value = getattr(pair, role)
        if value is not None and schema.entity_types and value not in schema.entity_types:
            raise InputError(f"record {pair.id}: {role} {value!r} is not an entity type of schema {schema.name} "
                             f"({', '.join(schema.entity_types)})")

    def fits(wanted: str | None, given: str | None) -> bool:
        return wanted is None or given is None or wanted == given

    found: list[tuple[str | None, bool, str]] = []
    for r in schema.relations:
        if fits(r.head, pair.head_type) and fits(r.tail, pair.tail_type):
            found.append((r.name, False, r.statement(pair.head, pair.tail)))
        if schema.directions == "both" and fits(r.head, pair.tail_type) and fits(r.tail, pair.head_type):
            found.append((r.name, True, r.statement(pair.tail, pair.head)))
    if not found:
        raise InputError(f"record {pair.id}: no relation of schema {schema.name} joins a "
                         f"{pair.head_type or 'any'} head and a {pair.tail_type or 'any'} tail (empty option set)")
    found.append((None, False, NONE_TEMPLATE.format(head=pair.head, tail=pair.tail)))
    if lettered and len(found) > len(LETTERS):
        raise KgcError(f"schema {schema.name} gives {len(found)} options; a one-letter answer (A-Z) allows at most "
                       f"{len(LETTERS)} (none of the above included): use --answer entail, which takes any number")
    if shuffle:
        random.Random(f"{seed}|{pair.id}|{pair.head}|{pair.tail}").shuffle(found)
    return [Option(option_label(i), rel, rev, text) for i, (rel, rev, text) in enumerate(found)]


def find_option(options: list[Option], relation: str | None, reversed_: bool = False) -> Option | None:
    for o in options:
        if o.relation == relation and (relation is None or o.reversed == reversed_):
            return o
    return None


# -- prompt -----------------------------------------------------------------------------------------------------
class QAPrompt:
    """The QA4RE prompt in three parts; inference tokenizes them apart, training joins them as text."""

    def __init__(self, fmt: str = "chatml"):
        if fmt not in ("chatml", "plain"):
            raise ValueError("prompt format must be chatml or plain")
        self.fmt = fmt
        turn = _turn(fmt, "user", "\x00")
        self._open, self._close = turn.split("\x00")

    def prefix(self) -> str:
        """Identical for every question (its KV cache is kept)."""
        return f"{self._open}{INSTRUCTION}\nSentence:"

    @staticmethod
    def sentence(text: str) -> str:
        """User text: tokenized without special tokens; shared by the pairs of one sentence."""
        return " " + " ".join(text.split())

    @staticmethod
    def options(options: list[Option]) -> str:
        """Option statements hold user mentions: tokenized without special tokens."""
        lines = "".join(f"{o.letter}. {' '.join(o.statement.split())}\n" for o in options)
        return f"\nOptions:\n{lines}{QUESTION}"

    def closing(self) -> str:
        """End of the user turn and start of the answer (chat-template tokens)."""
        return self._close + _assistant_open(self.fmt)

    def text(self, sentence: str, options: list[Option]) -> str:
        return self.prefix() + self.sentence(sentence) + self.options(options) + self.closing()


class EntailPrompt(QAPrompt):
    """One option statement at a time, answered yes or no (the "entail" answer mode): the instruction and the
    sentence come first, so their KV cache serves every statement of the pair. With `examples` N, the first N
    ENTAIL_EXAMPLES come before as earlier chat turns, laid out as the question itself; they are part of the
    prefix, evaluated once for all pairs.

    layout "statement-first" (what the fine-tuned judges were trained on) asks the question after each statement;
    "question-first" asks it once after the sentence, so it joins the pair's cached part and each statement costs
    only its own tokens and the turn's end (16 Qwen tokens instead of 31 for a short statement)."""

    def __init__(self, fmt: str = "chatml", examples: int = 0, layout: str = "statement-first"):
        super().__init__(fmt)
        if layout not in ENTAIL_LAYOUTS:
            raise ValueError(f"entail layout must be one of {', '.join(ENTAIL_LAYOUTS)}")
        self.examples = examples  # QA4RE checks the range (KgcError)
        self.question_first = layout == "question-first"

    def prefix(self) -> str:
        shots = "".join(_turn(self.fmt, "user", f"{ENTAIL_INSTRUCTION}\nSentence:{self.sentence(text)}"
                                                f"{self.statement(statement)}")
                        + _turn(self.fmt, "assistant", answer)
                        for text, statement, answer in ENTAIL_EXAMPLES[:self.examples])
        return f"{shots}{self._open}{ENTAIL_INSTRUCTION}\nSentence:"

    def sentence(self, text: str) -> str:
        return QAPrompt.sentence(text) + (f"\n{ENTAIL_QUESTION}" if self.question_first else "")

    def options(self, options: list[Option]) -> str:
        (option,) = options
        return self.statement(option.statement)

    def statement(self, text: str) -> str:
        """One statement, and the question after it unless it came first (user text: tokenized without special
        tokens)."""
        return f"\nStatement: {' '.join(text.split())}" + ("" if self.question_first else f"\n{ENTAIL_QUESTION}")


def undirected(label: str) -> str:
    """'Cause-Effect(e2,e1)' -> 'Cause-Effect' (SemEval's relation without its direction)."""
    return label.split("(")[0]
