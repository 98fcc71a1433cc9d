"""QA4RE: relation classification as multiple-choice QA (Zhang et al., ACL Findings 2023).

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

Pairs are read from files in kgc_lite/qa4re_input.py, training questions are built in kgc_lite/qa4re_data.py,
scoring is in kgc_lite/qa4re_eval.py, and the entail prior is kgc_lite/qa4re_prior.py.

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
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np

from .errors import InputError, KgcError
from .inputs import BadRecord
from .prompts import _assistant_open, _turn
from .schema import Schema, load_schema

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


# -- answering ----------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    options: list[Option]
    chosen: Option
    probs: list[float] | None   # per option: softmax over the letters (logits), or P(yes) normalized (entail)
    prompt_tokens: int
    yes: list[float] | None = None  # entail: each option's own P(yes), not normalized
    log_odds: list[float] | None = None  # entail: each option's log P(yes) / P(no), before any prior

    def likeliest_yes(self) -> Option:
        """Entail: the option the model says yes to most readily, prior or not (what `chosen` is without one)."""
        return self.options[int(np.argmax(self.log_odds))]


class QA4RE:
    """A model and a relation set, ready to answer QA4RE questions."""

    def __init__(self, model: str | None = None, schema: Schema | str = "semeval", answer: str | None = None,
                 shuffle: bool = False, seed: int = 0, n_ctx: int | None = None, n_threads: int | None = None,
                 n_gpu_layers: int = 0, engine=None, resolved=None, permutations: int = 1, prior: dict | None = None,
                 entail_examples: int | None = None, entail_layout: str | None = None,
                 entail_batch: bool = False):
        """answer: logits, grammar or entail; None: the model's own (models.toml qa4re_answer), else logits.
        prior: an entail prior (kgc_lite/qa4re_prior.py) for this model and relation set, or None.
        entail_examples: written yes/no demonstrations before each entail question (ENTAIL_EXAMPLES); None: the
        model's own (models.toml entail_examples, default 0). entail_layout: statement-first or question-first
        (EntailPrompt); None: the model's own (models.toml entail_layout, default statement-first).
        entail_batch: evaluate a pair's statements together in one llama.cpp batch (Engine.fork_logits) instead of
        one call each on top of the settled sentence; both are order-free, and their log-odds differ slightly
        (llama.cpp's arithmetic varies with how tokens are batched)."""
        from .engine import Engine
        from .models import resolve
        self.schema = load_schema(schema) if isinstance(schema, str) else schema
        self._schemas: dict[str, Schema | KgcError] = {}
        if model is None and resolved is None:
            from .models import qa4re_model_for
            model = qa4re_model_for(self.schema.name)
        self.model = resolved or resolve(model)
        answer = answer or self.model.spec.qa4re_answer or "logits"
        if answer not in ANSWER_MODES:
            raise KgcError(f"answer mode must be one of {', '.join(ANSWER_MODES)} (got {answer!r})")
        self.answer_mode = answer
        if permutations < 1:
            raise KgcError("--permutations must be at least 1")
        if permutations > 1 and answer != "logits":
            raise KgcError("--permutations averages letter probabilities over option orders: it needs --answer "
                           "logits (entail answers do not depend on the order)")
        self.permutations = permutations
        shots = self.model.spec.entail_examples if entail_examples is None else entail_examples
        if not 0 <= shots <= len(ENTAIL_EXAMPLES):
            raise KgcError(f"--entail-examples must be 0 to {len(ENTAIL_EXAMPLES)} (got {shots})")
        if entail_examples and answer != "entail":
            raise KgcError("--entail-examples are yes/no demonstrations for entail answers (--answer entail)")
        self.entail_examples = shots if answer == "entail" else 0
        layout = entail_layout or self.model.spec.entail_layout
        if layout not in ENTAIL_LAYOUTS:
            raise KgcError(f"--entail-layout must be one of {', '.join(ENTAIL_LAYOUTS)} (got {layout!r})")
        if entail_layout and answer != "entail":
            raise KgcError("--entail-layout lays out the questions of entail answers (--answer entail)")
        self.entail_layout = layout if answer == "entail" else ENTAIL_LAYOUTS[0]
        if entail_batch and answer != "entail":
            raise KgcError("--entail-batch evaluates the statements of entail answers together (--answer entail)")
        self.entail_batch = bool(entail_batch)
        self.prior: dict | None = None
        if prior is not None:
            self.use_prior(prior)
        self.shuffle = shuffle
        self.seed = seed
        fmt = self.model.spec.prompt_format
        self.prompt = EntailPrompt(fmt, self.entail_examples, self.entail_layout) if answer == "entail" else QAPrompt(fmt)
        self.engine = engine or Engine(self.model.path, n_ctx=n_ctx or min(self.model.spec.context, 2048),
                                       n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        self._prefix = self.engine.tokenize(self.prompt.prefix(), bos=True)
        self._closing = self.engine.tokenize(self.prompt.closing())
        self._sentence_cache: tuple[str, list[int]] = ("\x00", [])
        self._settled: list[int] | None = None  # what _settle last made the cache hold
        self.letter_ids = [self._one_token(letter) for letter in LETTERS]
        self.yes_ids = self._casings(YES)
        self.no_ids = self._casings(NO)

    def use_prior(self, prior: dict | None) -> None:
        """Answer entail questions relative to `prior` (None: plain likeliest yes); it must be this model's and
        this relation set's."""
        if prior is not None:
            from .qa4re_prior import check_matches
            if self.answer_mode != "entail":
                raise KgcError("a prior is for entail answers (--answer entail)")
            check_matches(prior, self.model.spec.name, self.model.sha256, self.schema.name, self.entail_examples,
                          self.entail_layout)
        self.prior = prior

    def _casings(self, word: str) -> list[int]:
        """Token ids of the lower-case word (it must be one token) and of its capitalized form, if that is one."""
        ids = [self._one_token(word)]
        found = self.engine.tokenize(word.capitalize(), special=False)
        return ids + found if len(found) == 1 and found != ids else ids

    def _one_token(self, word: str) -> int:
        ids = self.engine.tokenize(word, special=False)
        if len(ids) != 1:
            raise KgcError(f"model {self.model.spec.name}: {word!r} is not a single token")
        return ids[0]

    def schema_for(self, pair: Pair) -> Schema:
        if pair.schema is None:
            return self.schema
        if pair.schema not in self._schemas:
            try:
                self._schemas[pair.schema] = load_schema(pair.schema)
            except KgcError as exc:
                self._schemas[pair.schema] = exc
        found = self._schemas[pair.schema]
        if isinstance(found, KgcError):
            raise InputError(f"record {pair.id}: unknown relation set: {found}")
        return found

    def options(self, pair: Pair) -> list[Option]:
        return build_options(self.schema_for(pair), pair, self.shuffle, self.seed,
                             lettered=self.answer_mode != "entail")

    def tokens(self, text: str, options: list[Option]) -> list[int]:
        if self._sentence_cache[0] != text:
            self._sentence_cache = (text, self.engine.tokenize(self.prompt.sentence(text), special=False))
        return (self._prefix + self._sentence_cache[1]
                + self.engine.tokenize(self.prompt.options(options), special=False) + self._closing)

    def ask(self, pair: Pair, mode: str | None = None, options: list[Option] | None = None) -> Answer:
        """Answer one question (check_pair first for user input). mode: logits or grammar for a letter-answer
        instance; entail only for an entail instance (the prompt differs)."""
        options = options if options is not None else self.options(pair)
        mode = mode or self.answer_mode
        if (mode == "entail") != (self.answer_mode == "entail"):
            raise KgcError(f"this QA4RE was set up for {self.answer_mode} answers; {mode} needs its own")
        if mode == "entail":
            return self._entail(pair, options)
        tokens = self._checked(pair, self.tokens(pair.text, options))
        if mode == "logits":
            p = self._letter_probs(tokens, len(options))
            if self.permutations > 1:
                p = self._permuted_probs(pair.text, options, p)
            best = int(np.argmax(p))
            return Answer(options, options[best], [float(x) for x in p], len(tokens))
        from .grammar import letter_grammar
        text, _ = self.engine.generate(tokens, letter_grammar([o.letter for o in options]), max_tokens=2)
        letter = text.strip()[:1]
        index = LETTERS.find(letter) if letter else -1
        if not 0 <= index < len(options):
            raise KgcError(f"internal error: the letter grammar produced {text!r}")
        return Answer(options, options[index], None, len(tokens))

    def _checked(self, pair: Pair, tokens: list[int]) -> list[int]:
        if len(tokens) >= self.engine.n_ctx:
            raise InputError(f"record {pair.id}: the question takes {len(tokens)} tokens, more than the context "
                             f"of {self.engine.n_ctx}; shorten the text or raise --ctx")
        return tokens

    def _entail(self, pair: Pair, options: list[Option]) -> Answer:
        """P(yes) for each option's statement, one forward pass each over the statement's tokens (the
        instruction and sentence stay cached); the option with the most probable yes wins, or with a prior the
        option whose log-odds of yes most exceed the prior's. probs: the sigmoid of those scores, normalized over
        the options."""
        questions = [self._checked(pair, self.tokens(pair.text, [option])) for option in options]
        total = max(map(len, questions))
        log_odds = np.empty(len(options))
        for i, logits in enumerate(self._question_logits(questions)):
            log_odds[i] = (np.logaddexp.reduce(logits[self.yes_ids].astype(np.float64))
                           - np.logaddexp.reduce(logits[self.no_ids].astype(np.float64)))
        yes = 1.0 / (1.0 + np.exp(-log_odds))
        if self.prior:
            score = log_odds - self._prior_offsets(pair, options)
            p = 1.0 / (1.0 + np.exp(-score))
        else:
            score, p = log_odds, yes
        best = int(np.argmax(score))
        return Answer(options, options[best], [float(x) for x in p / p.sum()], total, [float(x) for x in yes],
                      [float(x) for x in log_odds])

    @property
    def evaluation(self) -> str:
        """How a pair's prompts are evaluated (a predictions file's fingerprint names it): "batched" (entail_batch)
        or "settled"; answers of the two differ slightly, so a resume does not mix them."""
        return "batched" if self.entail_batch else "settled"

    def _question_logits(self, questions: list[list[int]], shared: int | None = None):
        """The next-token logits after each of one pair's prompts, in order. The part they share (their common
        prefix, or the first `shared` tokens) is settled (_settle), then each prompt's remainder is evaluated on
        top of it alone, so no prompt's logits depend on the others or on their order. With entail_batch the
        remainders are evaluated together in one batch instead (Engine.fork_logits)."""
        if shared is None:
            shared = min(min(map(len, questions)) - 1, _common_prefix(questions))
        p = len(self._prefix)
        if self.entail_batch and len(questions) > 1 and shared >= p:
            # in one canonical order: a row's arithmetic depends on its place in the batch, so the options'
            # order (--shuffle) would otherwise change the answers
            tails = [q[shared:] for q in questions]
            canon = sorted(range(len(tails)), key=lambda i: tails[i])
            rows = self.engine.fork_logits(self._prefix, questions[0][p:shared], [tails[i] for i in canon])
            out: list = [None] * len(tails)
            for i, row in zip(canon, rows):
                out[i] = row
            return out
        self._settle(questions[0][:shared])
        return (self.engine.next_logits(tokens, keep=shared) for tokens in questions)

    def _settle(self, head: list[int]) -> None:
        """Make the KV cache hold `head` (the fixed instruction prefix, then the pair's own tokens) as evaluated
        from a fixed point: the prefix on its own, then the rest of `head` on top of it. llama.cpp's CPU
        arithmetic varies slightly with how tokens are batched, so reusing whatever the cache held made an
        answer depend on the pair asked before and on the order of its options: one SemEval pair's log-odds of
        yes differed by 0.14 (median) between two runs, and 9 of 104 answers changed (stop 27)."""
        if self._settled == head and self.engine.held(head) == len(head):
            return
        if self.engine.held(self._prefix) < len(self._prefix):
            self.engine.next_logits(self._prefix, keep=0)
        self.engine.next_logits(head, keep=len(self._prefix))
        self._settled = list(head)

    def _prior_offsets(self, pair: Pair, options: list[Option]) -> np.ndarray:
        table = self.prior["log_odds"]
        keys = [o.key() for o in options]
        missing = [k for k in keys if k not in table]
        if missing:
            raise InputError(f"record {pair.id}: the prior has no value for option {missing[0]!r}; estimate it on "
                             "pairs that are offered that option")
        return np.array([table[k] for k in keys], dtype=np.float64)

    def _letter_probs(self, tokens: list[int], n: int) -> np.ndarray:
        """Softmax over the first n letters' logits after one forward pass over the options, on top of the
        settled instruction and sentence (so the sentence stays cached across --permutations' orders)."""
        logits = next(iter(self._question_logits([tokens], len(self._prefix) + len(self._sentence_cache[1]))))
        chosen = logits[self.letter_ids[:n]].astype(np.float64)
        p = np.exp(chosen - chosen.max())
        return p / p.sum()

    def _permuted_probs(self, text: str, options: list[Option], first: np.ndarray) -> np.ndarray:
        """Each option's probability averaged over `permutations` option orders: the given order and cyclic
        shifts of it, spread evenly (with as many shifts as options, every option takes every letter once).
        The instruction and sentence stay in the KV cache, so each extra order evaluates only its options."""
        n = len(options)
        total = first.copy()
        shifts = sorted({round(k * n / self.permutations) % n for k in range(1, self.permutations)} - {0})
        for shift in shifts:
            order = options[shift:] + options[:shift]
            relettered = [replace(o, letter=LETTERS[i]) for i, o in enumerate(order)]
            p = self._letter_probs(self.tokens(text, relettered), n)
            total += np.roll(p, shift)  # back to the given order: order[i] is options[(i + shift) % n]
        return total / (1 + len(shifts))

    def record(self, pair: Pair, all_options: bool = False) -> dict:
        """The output record for one pair (raises InputError for bad pairs)."""
        schema = self.schema_for(pair)
        extracted = pair.extra.get("extracted_relation")
        if extracted is not None and extracted not in schema.relation_names:
            raise InputError(f"record {pair.id}: extracted relation {extracted!r} is not in schema {schema.name}; "
                             "pass the schema extract used with --schema")
        ans = self.ask(pair)
        c = ans.chosen
        out: dict = {"id": pair.id, "head": pair.head, "tail": pair.tail, "relation": c.relation}
        if schema.directions == "both":
            out["reversed"] = c.reversed
            out["label"] = c.directed_label()
        if c.relation is None:
            out["triplet"] = None
        else:
            h, t = (pair.tail, pair.head) if c.reversed else (pair.head, pair.tail)
            out["triplet"] = [h, c.relation, t]
        out["statement"] = c.statement
        out["letter"] = c.letter
        out["confidence"] = round(ans.probs[ans.options.index(c)], 6) if ans.probs else None
        if "extracted_relation" in pair.extra:
            out["chunk"] = pair.extra.get("chunk")
            out["extracted_relation"] = pair.extra["extracted_relation"]
            out["agrees"] = c.relation == pair.extra["extracted_relation"] and not c.reversed
        elif "gold" in pair.extra:
            out["gold"] = pair.extra["gold"]
        if all_options:
            out["options"] = [dict(o.as_dict(), p=round(ans.probs[i], 6) if ans.probs else None)
                              for i, o in enumerate(ans.options)]
        return out

    def records(self, pairs: Iterable[Pair | BadRecord], all_options: bool = False) -> Iterator[dict]:
        """One output record per pair, in input order; bad pairs become {"id", "error"} records."""
        for pair in pairs:
            if isinstance(pair, BadRecord):
                yield {"id": pair.id, "error": pair.error}
                continue
            try:
                yield self.record(pair, all_options)
            except InputError as exc:
                yield {"id": pair.id, "error": str(exc)}

    def close(self) -> None:
        self.engine.close()


def _common_prefix(sequences: list[list[int]]) -> int:
    """The length of the longest prefix all sequences share."""
    n = min(map(len, sequences))
    for i in range(n):
        t = sequences[0][i]
        if any(seq[i] != t for seq in sequences):
            return i
    return n


def undirected(label: str) -> str:
    """'Cause-Effect(e2,e1)' -> 'Cause-Effect' (SemEval's relation without its direction)."""
    return label.split("(")[0]
