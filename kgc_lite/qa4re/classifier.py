"""QA4RE's classifier: asks one multiple-choice question (or one yes/no statement per option)
per entity pair on a llama.cpp model and reads the answer from the next-token logits or
under a letter grammar."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Iterator

import numpy as np

from kgc_lite.errors import InputError, KgcError
from kgc_lite.io.inputs import BadRecord
from kgc_lite.qa4re.questions import (
    ANSWER_MODES,
    ENTAIL_EXAMPLES,
    ENTAIL_LAYOUTS,
    LETTERS,
    NO,
    YES,
    EntailPrompt,
    Option,
    Pair,
    QAPrompt,
    build_options,
)
from kgc_lite.schema import Schema, load_schema


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
        prior: an entail prior (kgc_lite/qa4re/prior.py) for this model and relation set, or None.
        entail_examples: written yes/no demonstrations before each entail question (ENTAIL_EXAMPLES); None: the
        model's own (models.toml entail_examples, default 0). entail_layout: statement-first or question-first
        (EntailPrompt); None: the model's own (models.toml entail_layout, default statement-first).
        entail_batch: evaluate a pair's statements together in one llama.cpp batch (Engine.fork_logits) instead of
        one call each on top of the settled sentence; both are order-free, and their log-odds differ slightly
        (llama.cpp's arithmetic varies with how tokens are batched)."""
        from kgc_lite.models.resolve import resolve
        from kgc_lite.runtime.engine import Engine
        self.schema = load_schema(schema) if isinstance(schema, str) else schema
        self._schemas: dict[str, Schema | KgcError] = {}
        if model is None and resolved is None:
            from kgc_lite.models.registry import qa4re_model_for
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
            from kgc_lite.qa4re.prior import check_matches
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
        from kgc_lite.prompting.grammar import letter_grammar
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
