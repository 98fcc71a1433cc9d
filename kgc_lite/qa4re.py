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

Two ways to answer, which agree by construction (same letter tokens, same logits):
- "logits" (default): one forward pass, then the logits of the offered letters; softmax over them is the
  confidence. No sampling loop.
- "grammar": greedy generation under the GBNF letter grammar (grammars/qa4re_letter.gbnf).
The prompt is tokenized in three parts (instruction prefix, sentence, options + question) joined as token lists,
so the engine keeps the KV cache of the instruction for every pair and of the sentence for consecutive pairs of
the same sentence.
"""

from __future__ import annotations

import math
import random
import re
import string
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import orjson

from .data import PairExample, Triplet, load_semeval, load_split
from .errors import InputError, KgcError
from .inputs import BadRecord, open_source
from .prompts import _assistant_open, _turn, end_of_answer
from .schema import Schema, load_schema

LETTERS = string.ascii_uppercase
ANSWER_MODES = ("logits", "grammar")
INSTRUCTION = "Determine which option can be inferred from the given sentence."
QUESTION = "Which option can be inferred from the given sentence?"
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


def build_options(schema: Schema, pair: Pair, shuffle: bool = False, seed: int = 0) -> list[Option]:
    """The lettered options for a pair: relations allowed by the pair's entity types, then none of the above.

    Raises InputError when a type is not one of the schema's, or when no relation fits the types.
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
    if len(found) > len(LETTERS):
        raise KgcError(f"schema {schema.name} gives {len(found)} options; QA4RE answers with one letter A-Z, "
                       f"so at most {len(LETTERS)} (none of the above included)")
    if shuffle:
        random.Random(f"{seed}|{pair.id}|{pair.head}|{pair.tail}").shuffle(found)
    return [Option(LETTERS[i], rel, rev, text) for i, (rel, rev, text) in enumerate(found)]


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


# -- reading pairs ------------------------------------------------------------------------------------------------
_MARKUP = re.compile(r"<e([12])>(.*?)</e\1>", re.S)
_SEMEVAL_LINE = re.compile(r'^\s*(\d+)\s*\t\s*"(.*)"\s*$', re.S)


def parse_markup(marked: str) -> tuple[str, str, str]:
    """(text, e1, e2) from a sentence with <e1>…</e1> and <e2>…</e2> markup; InputError if either is missing."""
    found: dict[str, str] = {}
    out = []
    pos = 0
    for m in _MARKUP.finditer(marked):
        out.append(marked[pos:m.start()])
        out.append(m.group(2))
        pos = m.end()
        if m.group(1) in found:
            raise InputError(f"<e{m.group(1)}> is marked twice")
        found[m.group(1)] = m.group(2)
    out.append(marked[pos:])
    missing = [f"<e{k}>…</e{k}>" for k in "12" if k not in found]
    if missing:
        raise InputError(f"missing {' and '.join(missing)} markup")
    return "".join(out), found["1"], found["2"]


def pair_from_record(record: object, fallback_id: str) -> Pair:
    """A Pair from a JSON record: {"id"?, "text", "head", "tail", "head_type"?, "tail_type"?, "schema"?};
    also SemEval's own keys ("sentence", "e1", "e2", "sentence_marked") and <e1>/<e2> markup in "text"."""
    if not isinstance(record, dict):
        raise InputError(f"{fallback_id}: expected a JSON object")
    rid = record.get("id", fallback_id)
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise InputError(f'{fallback_id}: "id" must be a string or a number')
    rid = str(rid)
    text = record.get("text", record.get("sentence"))
    head = record.get("head", record.get("e1"))
    tail = record.get("tail", record.get("e2"))
    marked = record.get("sentence_marked")
    if marked is None and isinstance(text, str) and head is None and tail is None and "<e1>" in text:
        marked = text
    if head is None and tail is None and isinstance(marked, str):
        try:
            text, head, tail = parse_markup(marked)
        except InputError as exc:
            raise InputError(f"record {rid}: {exc}") from None
    if not isinstance(text, str):
        raise InputError(f'record {rid}: missing "text"')
    for key, value in (("head", head), ("tail", tail)):
        if value is None:
            raise InputError(f'record {rid}: missing "{key}"')
        if not isinstance(value, str):
            raise InputError(f'record {rid}: "{key}" must be a string')
    types = {}
    for key in ("head_type", "tail_type", "schema"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f'record {rid}: "{key}" must be a string')
        types[key] = value or None
    extra = {"gold": record["label"]} if isinstance(record.get("label"), str) else {}
    pair = Pair(rid, text, head, tail, types["head_type"], types["tail_type"], types["schema"], extra)
    check_pair(pair)
    return pair


def pair_from_line(line: str, fallback_id: str) -> Pair:
    """A Pair from a non-JSON line: a sentence with <e1>/<e2> markup, or SemEval's `ID<TAB>"sentence"`."""
    rid = fallback_id
    m = _SEMEVAL_LINE.match(line)
    if m:
        rid, line = m.group(1), m.group(2)
    if "<e1>" not in line and "<e2>" not in line:
        raise InputError(f"{fallback_id}: neither a JSON record nor a sentence with <e1>…</e1> <e2>…</e2> markup")
    try:
        text, head, tail = parse_markup(line.strip())
    except InputError as exc:
        raise InputError(f"record {rid}: {exc}") from None
    pair = Pair(rid, text, head, tail)
    check_pair(pair)
    return pair


def _lines(sources: list[str]) -> Iterator[tuple[str, int, str]]:
    """(source name, line number, line) for every non-empty line; raises KgcError for unreadable sources."""
    for source in sources or ["-"]:
        with open_source(source) as (stream, where):
            seen = False
            for lineno, raw in enumerate(stream, 1):
                if not raw.strip():
                    continue
                seen = True
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    yield where, lineno, BadRecord(f"{Path(where).name}:{lineno}",
                                                   f"{where}:{lineno}: not valid UTF-8 (byte {exc.start})")
                    continue
                yield where, lineno, line
            if not seen:
                raise InputError(f"{where}: empty input")


def read_pairs(sources: list[str]) -> Iterator[Pair | BadRecord]:
    """Pairs from JSONL records or marked-up sentence lines, in files or stdin ('-'); bad lines as BadRecord."""
    for where, lineno, line in _lines(sources):
        if isinstance(line, BadRecord):
            yield line
            continue
        fallback = f"{Path(where).name}:{lineno}"
        try:
            if line.lstrip().startswith("{"):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise InputError(f"{where}:{lineno}: not valid JSON") from None
                yield pair_from_record(record, fallback)
            else:
                yield pair_from_line(line, fallback)
        except InputError as exc:
            rid = fallback
            if line.lstrip().startswith("{"):
                try:
                    rid = str(orjson.loads(line).get("id", fallback))
                except (orjson.JSONDecodeError, AttributeError):
                    pass
            yield BadRecord(rid, f"{where}:{lineno}: {exc}" if not str(exc).startswith(where) else str(exc))


def read_extract_output(sources: list[str]) -> Iterator[Pair | BadRecord]:
    """Pairs to verify from `kgc-lite extract` output: one per extracted triplet, in the extracted direction.

    The extracted relation is kept in the pair's extra fields and compared with the QA4RE answer.
    """
    for where, lineno, line in _lines(sources):
        if isinstance(line, BadRecord):
            yield line
            continue
        fallback = f"{Path(where).name}:{lineno}"
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield BadRecord(fallback, f"{where}:{lineno}: not valid JSON")
            continue
        if not isinstance(record, dict):
            yield BadRecord(fallback, f"{where}:{lineno}: expected a JSON object")
            continue
        rid = str(record.get("id", fallback))
        if "error" in record:
            yield BadRecord(rid, f"{where}:{lineno}: extract reported an error: {record['error']}")
            continue
        text, trips = record.get("text"), record.get("triplets")
        if not isinstance(text, str) or not isinstance(trips, list):
            yield BadRecord(rid, f'{where}:{lineno}: not extract output (needs "text" and "triplets")')
            continue
        for i, t in enumerate(trips):
            extra = {"chunk": record.get("chunk"), "triplet": i}
            if not isinstance(t, dict) or not all(isinstance(t.get(k), str) for k in ("head", "relation", "tail")):
                yield BadRecord(rid, f"{where}:{lineno}: triplet {i} needs head, relation and tail strings")
                continue
            extra["extracted_relation"] = t["relation"]
            pair = Pair(rid, text, t["head"], t["tail"], t.get("head_type"), t.get("tail_type"), None, extra)
            try:
                check_pair(pair)
            except InputError as exc:
                yield BadRecord(rid, f"{where}:{lineno}: triplet {i}: {exc}")
                continue
            yield pair


# -- answering ----------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    options: list[Option]
    chosen: Option
    probs: list[float] | None   # softmax over the offered letters (logits mode only)
    prompt_tokens: int


class QA4RE:
    """A model and a relation set, ready to answer QA4RE questions."""

    def __init__(self, model: str | None = None, schema: Schema | str = "semeval", answer: str = "logits",
                 shuffle: bool = False, seed: int = 0, n_ctx: int | None = None, n_threads: int | None = None,
                 n_gpu_layers: int = 0, engine=None, resolved=None):
        from .engine import Engine
        from .models import resolve
        if answer not in ANSWER_MODES:
            raise KgcError(f"answer mode must be one of {', '.join(ANSWER_MODES)} (got {answer!r})")
        self.schema = load_schema(schema) if isinstance(schema, str) else schema
        self._schemas: dict[str, Schema | KgcError] = {}
        if model is None and resolved is None:
            from .models import qa4re_model_for
            model = qa4re_model_for(self.schema.name)
        self.model = resolved or resolve(model)
        self.answer_mode = answer
        self.shuffle = shuffle
        self.seed = seed
        self.prompt = QAPrompt(self.model.spec.prompt_format)
        self.engine = engine or Engine(self.model.path, n_ctx=n_ctx or min(self.model.spec.context, 2048),
                                       n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        self._prefix = self.engine.tokenize(self.prompt.prefix(), bos=True)
        self._closing = self.engine.tokenize(self.prompt.closing())
        self._sentence_cache: tuple[str, list[int]] = ("\x00", [])
        self.letter_ids = []
        for letter in LETTERS:
            ids = self.engine.tokenize(letter, special=False)
            if len(ids) != 1:
                raise KgcError(f"model {self.model.spec.name}: letter {letter} is not a single token")
            self.letter_ids.append(ids[0])

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
        return build_options(self.schema_for(pair), pair, self.shuffle, self.seed)

    def tokens(self, text: str, options: list[Option]) -> list[int]:
        if self._sentence_cache[0] != text:
            self._sentence_cache = (text, self.engine.tokenize(self.prompt.sentence(text), special=False))
        return (self._prefix + self._sentence_cache[1]
                + self.engine.tokenize(self.prompt.options(options), special=False) + self._closing)

    def ask(self, pair: Pair, mode: str | None = None, options: list[Option] | None = None) -> Answer:
        """Answer one question (check_pair first for user input)."""
        options = options if options is not None else self.options(pair)
        tokens = self.tokens(pair.text, options)
        if len(tokens) >= self.engine.n_ctx:
            raise InputError(f"record {pair.id}: the question takes {len(tokens)} tokens, more than the context "
                             f"of {self.engine.n_ctx}; shorten the text or raise --ctx")
        mode = mode or self.answer_mode
        if mode == "logits":
            logits = self.engine.next_logits(tokens)
            chosen_logits = logits[self.letter_ids[: len(options)]].astype(np.float64)
            p = np.exp(chosen_logits - chosen_logits.max())
            p /= p.sum()
            best = int(np.argmax(chosen_logits))
            return Answer(options, options[best], [float(x) for x in p], len(tokens))
        from .grammar import letter_grammar
        text, _ = self.engine.generate(tokens, letter_grammar([o.letter for o in options]), max_tokens=2)
        letter = text.strip()[:1]
        index = LETTERS.find(letter) if letter else -1
        if not 0 <= index < len(options):
            raise KgcError(f"internal error: the letter grammar produced {text!r}")
        return Answer(options, options[index], None, len(tokens))

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
        out["confidence"] = round(ans.probs[LETTERS.index(c.letter)], 6) if ans.probs else None
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


# -- SemEval scoring ----------------------------------------------------------------------------------------------
def _undirected(label: str) -> str:
    return label.split("(")[0]


def semeval_scores(gold: list[str], pred: list[str]) -> dict:
    """Official SemEval-2010 Task 8 score and QA4RE's micro-F1, in percent.

    official_macro_f1: the v1.2 scorer's "(9+1)-way evaluation with directionality taken into account":
      per relation R (directions merged), P = exact matches / predictions of R in either direction,
      R = exact matches / gold R; F1 per relation; mean over the relations present in the gold, Other excluded.
    micro_f1_directed: micro P/R/F1 over the 18 directed labels, Other excluded (QA4RE's metric).
    """
    if len(gold) != len(pred):
        raise ValueError("gold and predictions differ in length")
    rels = sorted({_undirected(g) for g in gold if g != OTHER})
    per = {}
    for r in rels:
        correct = sum(1 for g, p in zip(gold, pred) if g == p and _undirected(g) == r)
        proposed = sum(1 for p in pred if _undirected(p) == r)
        answer = sum(1 for g in gold if _undirected(g) == r)
        prec = 100.0 * correct / proposed if proposed else 0.0
        rec = 100.0 * correct / answer if answer else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[r] = {"p": round(prec, 2), "r": round(rec, 2), "f1": round(f1, 2), "correct": correct,
                  "proposed": proposed, "gold": answer}
    macro = 0.0  # from unrounded per-relation F1s
    for r in rels:
        v = per[r]
        prec = v["correct"] / v["proposed"] if v["proposed"] else 0.0
        rec = v["correct"] / v["gold"] if v["gold"] else 0.0
        macro += 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    macro = 100.0 * macro / len(rels) if rels else 0.0
    tp = sum(1 for g, p in zip(gold, pred) if g == p and g != OTHER)
    n_pred = sum(1 for p in pred if p != OTHER)
    n_gold = sum(1 for g in gold if g != OTHER)
    mp = tp / n_pred if n_pred else 0.0
    mr = tp / n_gold if n_gold else 0.0
    mf = 2 * mp * mr / (mp + mr) if mp + mr else 0.0
    acc = sum(1 for g, p in zip(gold, pred) if g == p) / len(gold) if gold else 0.0
    return {"official_macro_f1": round(macro, 2), "micro_f1_directed": round(100 * mf, 2),
            "micro_p_directed": round(100 * mp, 2), "micro_r_directed": round(100 * mr, 2),
            "accuracy_19way": round(100 * acc, 2), "per_relation": per}


def semeval_pairs(split: str = "test", limit: int | None = None, seed: int = 0,
                  data_root: str | Path | None = None) -> list[PairExample]:
    """A SemEval split, or a seeded random subset of `limit` pairs (kept in file order)."""
    items = load_semeval(split, data_root)
    if limit is not None and limit < len(items):
        keep = sorted(random.Random(seed).sample(range(len(items)), limit))
        items = [items[i] for i in keep]
    return items


def evaluate_semeval(model: str | None = None, split: str = "test", limit: int | None = None,
                     n_threads: int | None = None, seed: int = 0, answer: str = "logits", shuffle: bool = False,
                     data_root: str | Path | None = None, predictions: str | Path | None = None,
                     qa: QA4RE | None = None) -> dict:
    """QA4RE on SemEval-2010 Task 8 with the built-in semeval schema; scores in percent, plus timing.

    limit: a seeded random subset of that many pairs (seed also drives --shuffle's option orders).
    predictions: optional JSONL path for one line per pair (id, gold, pred, letter, confidence).
    """
    total = len(load_semeval(split, data_root))
    items = semeval_pairs(split, limit, seed, data_root)
    qa = qa or QA4RE(model, "semeval", answer=answer, shuffle=shuffle, seed=seed, n_threads=n_threads)
    stats0 = replace(qa.engine.stats)
    gold, pred, rows = [], [], []
    start = time.perf_counter()
    cpu0 = time.process_time()
    for ex in items:
        pair = Pair(ex.id, ex.text, ex.head, ex.tail)
        ans = qa.ask(pair, mode=answer)
        label = ans.chosen.directed_label()
        gold.append(ex.label)
        pred.append(label)
        rows.append({"id": ex.id, "gold": ex.label, "pred": label, "letter": ans.chosen.letter,
                     "confidence": round(ans.probs[LETTERS.index(ans.chosen.letter)], 6) if ans.probs else None})
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    st = qa.engine.stats
    result = {"dataset": "semeval2010", "split": split, "n": len(items),
              "subset": None if len(items) == total else {"limit": limit, "seed": seed, "of": total},
              "model": qa.model.spec.name, "model_sha256": qa.model.sha256, "method": "qa4re",
              "answer": answer, "option_order": f"shuffled(seed={seed})" if shuffle else "schema",
              **semeval_scores(gold, pred),
              "predicted_other": sum(1 for p in pred if p == OTHER),
              "letter_histogram": _histogram(r["letter"] for r in rows),
              "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
              "pairs_per_s": round(len(items) / seconds, 3) if seconds else None,
              "prompt_tokens_evaluated": st.prompt_tokens - stats0.prompt_tokens,
              "prompt_tokens_cached": st.cached_tokens - stats0.cached_tokens,
              "n_threads": qa.engine.llm.n_threads if hasattr(qa.engine.llm, "n_threads") else n_threads}
    if predictions:
        with open(predictions, "wb") as f:
            for r in rows:
                f.write(orjson.dumps(r) + b"\n")
    return result


def _histogram(letters: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in letters:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))


def format_semeval(result: dict) -> str:
    """A few human-readable lines for a result of evaluate_semeval."""
    sub = result.get("subset")
    lines = [f"QA4RE on SemEval-2010 Task 8 {result['split']} ({result['n']} pairs"
             + (f", seeded subset: seed {sub['seed']}" if sub else "") + f"), model {result['model']}, "
             f"answer={result['answer']}, options={result['option_order']}",
             f"  official macro-F1 (9 relations, direction counts, Other excluded): {result['official_macro_f1']:.2f}",
             f"  micro-F1 over the 18 directed labels (QA4RE): {result['micro_f1_directed']:.2f} "
             f"(P {result['micro_p_directed']:.2f}, R {result['micro_r_directed']:.2f})",
             f"  19-way accuracy {result['accuracy_19way']:.2f}; predicted Other {result['predicted_other']}",
             f"  {result['seconds']:.1f} s, {result['pairs_per_s']} pairs/s"]
    return "\n".join(lines)


# -- training examples in QA format -------------------------------------------------------------------------------
QA_SOURCES = ("semeval", "conll04", "ade", "scierc")


def training_questions(sources: Iterable[str] = ("semeval",), split: str = "train", seed: int = 0,
                       shuffle: bool = False, negatives_per_positive: float = 1.0,
                       data_root: str | Path | None = None) -> Iterator[tuple[str, Pair, list[Option], Option]]:
    """(source, pair, options, gold option) for every training question, built with the options inference offers.

    sources: "semeval" (every labelled pair; Other -> none of the above) and/or triplet sets "conll04", "ade",
    "scierc" (every gold (head, tail) pair is a positive for its relation; other ordered pairs of the same
    sentence's gold entities are none-of-the-above negatives, at most `negatives_per_positive` per positive
    per sentence, drawn with `seed`). Entity types are given when the data has them and they admit the gold
    relation, so options are pruned as at inference with types.
    """
    rng = random.Random(seed)

    def make(schema: Schema, pair: Pair, relation: str | None, reversed_: bool):
        try:
            options = build_options(schema, pair, shuffle, seed)
        except InputError:
            options = []
        target = find_option(options, relation, reversed_)
        if target is None and (pair.head_type or pair.tail_type):  # types that exclude the gold: drop them
            return make(schema, replace(pair, head_type=None, tail_type=None), relation, reversed_)
        if target is None:
            return None
        return pair, options, target

    for source in sources:
        if source not in QA_SOURCES:
            raise KgcError(f"unknown QA4RE training source {source!r}; use {', '.join(QA_SOURCES)}")
        if source == "semeval":
            schema = load_schema("semeval")
            for ex in load_semeval(split, data_root):
                if ex.label == OTHER:
                    rel, rev = None, False
                else:
                    rel, rev = _undirected(ex.label), ex.label.endswith("(e2,e1)")
                made = make(schema, Pair(ex.id, ex.text, ex.head, ex.tail), rel, rev)
                if made:
                    yield (source, *made)
            continue
        schema = load_schema(source)
        for ex in load_split(source, split, data_root):
            gold: dict[tuple[str, str], Triplet] = {}
            types: dict[str, str] = {}
            for t in ex.triplets:
                gold.setdefault((t.head, t.tail), t)
                for mention, typ in ((t.head, t.head_type), (t.tail, t.tail_type)):
                    if typ in schema.entity_types:
                        types.setdefault(mention, typ)
            for (h, t), trip in gold.items():
                made = make(schema, Pair(ex.id or "", ex.text, h, t, types.get(h), types.get(t)),
                            trip.relation, False)
                if made:
                    yield (source, *made)
            entities = list(dict.fromkeys(m for ht in gold for m in ht))
            others = [(a, b) for a in entities for b in entities if a != b and (a, b) not in gold]
            rng.shuffle(others)
            for a, b in others[: int(math.ceil(negatives_per_positive * len(gold)))]:
                made = make(schema, Pair(ex.id or "", ex.text, a, b, types.get(a), types.get(b)), None, False)
                if made:
                    yield (source, *made)


def training_pairs(sources: Iterable[str] = ("semeval",), split: str = "train", fmt: str = "chatml",
                   seed: int = 0, shuffle: bool = False, negatives_per_positive: float = 1.0,
                   end: bool = False, data_root: str | Path | None = None) -> Iterator[tuple[str, str]]:
    """(prompt_text, answer_text) for every question of training_questions, with the inference QAPrompt.

    answer_text is the letter, followed by the end-of-answer marker when end=True. The prompt text starts
    without BOS (a tokenizer adds it).
    """
    prompt = QAPrompt(fmt)
    stop = end_of_answer(fmt) if end else ""
    for _, pair, options, target in training_questions(sources, split, seed, shuffle, negatives_per_positive,
                                                       data_root):
        yield prompt.text(pair.text, options), target.letter + stop
