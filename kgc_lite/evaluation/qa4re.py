"""Scoring QA4RE (kgc_lite/qa4re/classifier.py): SemEval-2010 Task 8 with the official scorer's semantics, and zero-shot
relation classification on the held-out relations of a FewRel / Wiki-ZSL split posed as multiple choice.

`kgc-lite eval -d semeval`, `kgc-lite eval -d fewrel --split unseen_5_seed_0 --qa4re` and `kgc-lite eval --qa4re
--gold FILE --schema FILE` call these.

Predictions (`--save-predictions FILE`) are written a line per pair as each is answered, through the crash-safe
writer of `extract -o` (kgc_lite/io/output.py, with its FILE.meta.json fingerprint), so a long run that is killed
keeps every answer it made. `--resume` reads them back instead of asking again: an entail answer is chosen anew
from its line's log-odds (under this run's prior), a letter answer is taken as it was.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from kgc_lite.data.benchmarks import load_semeval, seeded_sample, semeval_path
from kgc_lite.errors import KgcError
from kgc_lite.io.files import file_sha256
from kgc_lite.qa4re.classifier import QA4RE, Answer
from kgc_lite.qa4re.questions import LETTERS, OTHER, Option, Pair, undirected
from kgc_lite.types import PairExample


# -- SemEval scoring ----------------------------------------------------------------------------------------------
def semeval_scores(gold: list[str], pred: list[str]) -> dict:
    """Official SemEval-2010 Task 8 score and QA4RE's micro-F1, in percent.

    official_macro_f1: the v1.2 scorer's "(9+1)-way evaluation with directionality taken into account":
      per relation R (directions merged), P = exact matches / predictions of R in either direction,
      R = exact matches / gold R; F1 per relation; mean over the relations present in the gold, Other excluded.
    micro_f1_directed: micro P/R/F1 over the 18 directed labels, Other excluded (QA4RE's metric).
    """
    if len(gold) != len(pred):
        raise ValueError("gold and predictions differ in length")
    rels = sorted({undirected(g) for g in gold if g != OTHER})
    per = {}
    for r in rels:
        correct = sum(1 for g, p in zip(gold, pred) if g == p and undirected(g) == r)
        proposed = sum(1 for p in pred if undirected(p) == r)
        answer = sum(1 for g in gold if undirected(g) == r)
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
    return seeded_sample(load_semeval(split, data_root), limit, seed)


def evaluate_semeval(model: str | None = None, split: str = "test", limit: int | None = None,
                     n_threads: int | None = None, seed: int = 0, answer: str | None = None, shuffle: bool = False,
                     data_root: str | Path | None = None, predictions: str | Path | None = None,
                     qa: QA4RE | None = None, permutations: int = 1, prior_pairs: int | None = None,
                     resume: bool = False, progress=None) -> dict:
    """QA4RE on SemEval-2010 Task 8 with the built-in semeval schema; scores in percent, plus timing.

    limit: a seeded random subset of that many pairs (seed also drives --shuffle's option orders).
    predictions: optional JSONL path for one line per pair (id, gold, pred, letter, confidence), written as each
    pair is answered; resume: keep the answers already there (same model and settings) and ask only the rest.
    prior_pairs: entail only: first estimate the prior (kgc_lite/qa4re/prior.py) over a seeded random N pairs of
    the train split, their labels unread, and answer with it; the result also scores the same answers without it.
    """
    total = len(load_semeval(split, data_root))
    items = semeval_pairs(split, limit, seed, data_root)
    qa = qa or QA4RE(model, "semeval", answer=answer, shuffle=shuffle, seed=seed, n_threads=n_threads,
                     permutations=permutations)
    prior_desc = None
    if prior_pairs:
        from kgc_lite.qa4re.prior import for_run
        drawn = {"split": "train", "seed": seed, "n": prior_pairs}
        read_back = for_run(qa, lambda: [Pair(ex.id, ex.text, ex.head, ex.tail)
                                         for ex in semeval_pairs("train", prior_pairs, seed, data_root)],
                            drawn, predictions, resume)
        prior_desc = {"split": "train", "seed": seed, "labels_read": False, "read_back": read_back, **qa.prior}
    elif qa.prior:  # given (eval --prior FILE)
        prior_desc = {"given": True, **qa.prior}
    data_file = semeval_path(split, data_root)
    log = PredictionLog(predictions, qa, file_sha256(data_file) if data_file.exists() else None, resume)
    stats0 = replace(qa.engine.stats)
    start = time.perf_counter()
    cpu0 = time.process_time()
    gold, pred, answers, rows = _answer_all(qa, log, ((Pair(ex.id, ex.text, ex.head, ex.tail), ex.label)
                                                      for ex in items), Option.directed_label, progress)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    st = qa.engine.stats
    result = {"dataset": "semeval2010", "split": split, "n": len(items),
              "subset": None if len(items) == total else {"limit": limit, "seed": seed, "of": total},
              "model": qa.model.spec.name, "model_sha256": qa.model.sha256, "method": "qa4re",
              "answer": qa.answer_mode, "option_order": _order(qa),
              **semeval_scores(gold, pred),
              "predicted_other": sum(1 for p in pred if p == OTHER),
              "prior": prior_desc,
              **_entail_rows(qa, answers, lambda chosen: _semeval_row(gold, [o.directed_label() for o in chosen])),
              "letter_histogram": _histogram(r["letter"] for r in rows),
              **log.timing(seconds),
              "cpu_seconds": round(cpu, 2),
              "prompt_tokens_evaluated": st.prompt_tokens - stats0.prompt_tokens,
              "prompt_tokens_cached": st.cached_tokens - stats0.cached_tokens,
              "n_threads": qa.engine.llm.n_threads if hasattr(qa.engine.llm, "n_threads") else n_threads}
    return result


def _entail_rows(qa: QA4RE, answers: list[Answer], score) -> dict:
    """Entail answers, scored again from the same log-odds: without the prior (when the run had one), and with
    the input prior, i.e. a prior estimated on the scored pairs themselves after answering them, labels unread
    (what `kgc-lite qa4re --prior-from mine.jsonl mine.jsonl` does; PriDe estimates its prior on test inputs too).
    score: chosen options -> headline scores."""
    if qa.answer_mode != "entail" or not answers:
        return {}
    from kgc_lite.qa4re.prior import choose, mean_log_odds
    table = mean_log_odds(answers)
    return {"without_prior": score([a.likeliest_yes() for a in answers]) if qa.prior else None,
            "with_input_prior": {**score([choose(a, table) for a in answers]), "pairs": len(answers)}}


def _semeval_row(gold: list[str], pred: list[str]) -> dict:
    return {**_headline(semeval_scores(gold, pred)), "predicted_other": pred.count(OTHER)}


def _headline(scores: dict) -> dict:
    """A scores dict without its per-relation table (the without-prior summary of a run)."""
    return {k: v for k, v in scores.items() if k != "per_relation"}


def _row(pair_id: str, gold, pred, ans: Answer) -> dict:
    """One predictions line: the pair, gold and predicted label, the chosen letter and its probability; for
    entail answers also every option's log-odds of yes, before any prior (kgc_lite/qa4re/prior.py)."""
    row = {"id": pair_id, "gold": gold, "pred": pred, "letter": ans.chosen.letter,
           "confidence": round(ans.probs[LETTERS.index(ans.chosen.letter)], 6) if ans.probs else None}
    if ans.log_odds is not None:
        row["log_odds"] = {o.key(): round(v, 5) for o, v in zip(ans.options, ans.log_odds)}
    return row


class PredictionLog:
    """A QA4RE eval's predictions file (or none): each pair's line written as it is answered, and on resume the
    lines already there read back instead of asking again. The fingerprint beside the file (FILE.meta.json, as
    `extract -o` keeps) names the model, the relation set, the answer mode and options and the data file; a
    resume with any of them changed is refused. Without resume an old file is replaced, as before."""

    def __init__(self, path: str | Path | None, qa: QA4RE, data_sha256: str | None, resume: bool = False):
        from kgc_lite.io import output
        self.done: dict[str, dict] = {}
        self.asked = self.resumed = 0
        self.sink = None
        if not path:
            if resume:
                raise KgcError("resuming needs the predictions file to resume (--save-predictions FILE)")
            return
        path = Path(path)
        if not resume and path.is_file():
            path.unlink()  # a rerun starts afresh, as --save-predictions always has
        fp = {"task": "qa4re", "model": qa.model.spec.name, "model_sha256": qa.model.sha256,
              "relation_set": qa.schema.name, "schema_sha256": output.schema_sha256(qa.schema),
              "answer": qa.answer_mode, "option_order": _order(qa), "entail_examples": qa.entail_examples,
              "entail_layout": qa.entail_layout if qa.answer_mode == "entail" else None,
              "gpu": qa.engine.n_gpu_layers != 0, "data_sha256": data_sha256,
              "evaluation": qa.evaluation}  # settled or batched; answers made before stop 27 were not order-free
        output.prepare(path, fp, resume, note=lambda message: print(f"kgc-lite: {message}", file=sys.stderr))
        if path.is_file():
            self.done = {str(row["id"]): row for _, row in output.read_lines(path)}
        self.sink = output.JsonlSink(path, sync=False)

    def answer(self, qa: QA4RE, pair: Pair, gold: str, label_of) -> tuple[Answer | None, dict]:
        """(the answer, its predictions line) for one pair: read back from the file if it is there, else asked
        and written. label_of(Option) is the predicted label (None of the above: its relation is None).
        A letter answer read back is not rebuilt (None): its line's pred stands."""
        row = self.done.get(pair.id)
        if row is None:
            ans = qa.ask(pair)
            row = _row(pair.id, gold, label_of(ans.chosen), ans)
            if self.sink:
                self.sink.write(row)
            self.asked += 1
            return ans, row
        if row.get("gold") != gold:
            raise KgcError(f"cannot resume: pair {pair.id}'s gold label is {gold!r} here and {row.get('gold')!r} "
                           "in the predictions file; it was made from other data")
        self.resumed += 1
        if qa.answer_mode != "entail":
            return None, row
        try:
            ans = answer_from_log_odds(qa.options(pair), row.get("log_odds"),
                                       qa.prior["log_odds"] if qa.prior else None, pair.id)
        except KgcError as exc:
            raise KgcError(f"cannot resume: {exc}") from None
        return ans, {**row, "pred": label_of(ans.chosen), "letter": ans.chosen.letter}

    def timing(self, seconds: float) -> dict:
        """Speed counts the pairs this run asked, not the ones it read back."""
        return {"asked": self.asked, "resumed": self.resumed, "seconds": round(seconds, 2),
                "pairs_per_s": round(self.asked / seconds, 3) if seconds and self.asked else None}

    def close(self) -> None:
        if self.sink:
            self.sink.close()
            self.sink = None

    def __enter__(self) -> "PredictionLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def answer_from_log_odds(options: list[Option], table: dict | None, prior: dict[str, float] | None = None,
                         pair_id: str = "?") -> Answer:
    """An entail answer again from a predictions line's log-odds of yes (`table`, by Option.key, before any
    prior) over `options`, chosen as QA4RE chooses: relative to a prior's log-odds table if given, else the
    likeliest yes. The line's values are rounded to 5 decimals, so an exact tie may break otherwise than when it
    was asked."""
    from kgc_lite.qa4re.prior import choose
    missing = [o.key() for o in options if not isinstance((table or {}).get(o.key()), (int, float))]
    if missing:
        raise KgcError(f"the predictions line of pair {pair_id} has no log-odds for option {missing[0]!r}")
    ans = Answer(options, options[0], None, 0, None, [float(table[o.key()]) for o in options])
    ans.chosen = choose(ans, prior) if prior else ans.likeliest_yes()
    return ans


def _histogram(letters: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(letters).items()))


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
             *([f"  with the entail prior of {result['prior']['pairs']} unlabeled "
                f"{'pairs (given)' if result['prior'].get('given') else 'train pairs'}; without it: "
                f"micro-F1 {result['without_prior']['micro_f1_directed']:.2f}, official macro-F1 "
                f"{result['without_prior']['official_macro_f1']:.2f}, predicted Other "
                f"{result['without_prior']['predicted_other']}"] if result.get("without_prior") else []),
             *([f"  with the input prior (the scored pairs' own, labels unread): micro-F1 "
                f"{result['with_input_prior']['micro_f1_directed']:.2f}, official macro-F1 "
                f"{result['with_input_prior']['official_macro_f1']:.2f}"] if result.get("with_input_prior") else []),
             f"  {result['seconds']:.1f} s, {result['pairs_per_s']} pairs/s"]
    return "\n".join(lines)


def _order(qa: QA4RE) -> str:
    if qa.answer_mode == "entail":
        return "none (entail: one statement at a time)"
    order = f"shuffled(seed={qa.seed})" if qa.shuffle else "schema"
    return order + (f", averaged over {qa.permutations} cyclic shifts" if qa.permutations > 1 else "")


# -- held-out relations as multiple choice ------------------------------------------------------------------------
def choice_scores(gold: list[str], pred: list[str | None]) -> dict:
    """Accuracy and macro-F1 of relation classification where every gold pair has a relation and a prediction
    may be none of the above (None: a miss, counted against recall only). Macro-F1 averages the per-relation F1
    over the gold relations; percent."""
    rels = sorted(set(gold))
    per = {}
    for r in rels:
        correct = sum(1 for g, p in zip(gold, pred) if g == p == r)
        proposed = sum(1 for p in pred if p == r)
        answer = sum(1 for g in gold if g == r)
        prec = correct / proposed if proposed else 0.0
        rec = correct / answer if answer else 0.0
        per[r] = {"f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "correct": correct,
                  "proposed": proposed, "gold": answer}
    acc = sum(1 for g, p in zip(gold, pred) if g == p) / len(gold) if gold else 0.0
    macro = sum(v["f1"] for v in per.values()) / len(per) if per else 0.0
    for v in per.values():
        v["f1"] = round(100 * v["f1"], 2)
    return {"accuracy": round(100 * acc, 2), "macro_f1": round(100 * macro, 2),
            "predicted_none": sum(1 for p in pred if p is None), "per_relation": per}


def gold_pairs(examples, sample: int | None = None, seed: int = 0) -> tuple[list[tuple[Pair, str]], int]:
    """(pair, gold relation) for every gold triplet whose head and tail occur in its sentence, a seeded random
    `sample` of them if given (kept in order), and how many there were in all."""
    pairs = [(Pair(f"{ex.id}:{k}", ex.text, t.head, t.tail), t.relation)
             for ex in examples for k, t in enumerate(ex.triplets) if t.head in ex.text and t.tail in ex.text]
    return seeded_sample(pairs, sample, seed), len(pairs)


def _answer_all(qa: QA4RE, log: PredictionLog, pairs, key, progress) -> tuple[list, list, list, list]:
    """Answer each (pair, gold label) through the log (`key` names an option as the gold does); the gold labels,
    predicted labels, answers and log rows, in order."""
    gold, pred, answers, rows = [], [], [], []
    with log:
        for pair, label in pairs:
            ans, row = log.answer(qa, pair, label, key)
            gold.append(label)
            pred.append(row["pred"])
            answers.append(ans)
            rows.append(row)
            if progress:
                progress()
    return gold, pred, answers, rows


def zero_rte_schema(dataset: str, split: str, data_root: str | Path | None = None):
    """A zero-shot split's test sentences and its schema: the test relations, with statements from their names
    (qa4re_data.wikidata_template)."""
    from kgc_lite.data.zero_rte import load_zero_rte, wikidata_schema
    examples, relations, _ = load_zero_rte(dataset, split, data_root)
    return examples, wikidata_schema(relations, f"{dataset}-{split}")


def evaluate_choice(qa: QA4RE, pairs: list[tuple[Pair, str]], total: int, predictions: str | Path | None = None,
                    progress=None, resume: bool = False, data_sha256: str | None = None) -> dict:
    """Relation classification of gold pairs as QA4RE multiple choice: each pair is asked with qa.schema's
    relations plus none of the above as options (`qa` decides their order and answer mode); scores from
    choice_scores, plus timing. For a zero-shot split's held-out relations (zero_rte_schema), or a gold file
    with a schema of the user's own. predictions / resume: as evaluate_semeval's."""
    log = PredictionLog(predictions, qa, data_sha256, resume)
    start = time.perf_counter()
    gold, pred, answers, rows = _answer_all(qa, log, pairs, lambda option: option.relation, progress)
    seconds = time.perf_counter() - start
    return {"n": len(pairs), "of": total, "relations": [r.name for r in qa.schema.relations],
            "model": qa.model.spec.name, "model_sha256": qa.model.sha256, "method": "qa4re multiple choice",
            "answer": qa.answer_mode, "option_order": _order(qa), **choice_scores(gold, pred),
            **_entail_rows(qa, answers, lambda chosen: _headline(choice_scores(gold, [o.relation for o in chosen]))),
            "letter_histogram": _histogram(r["letter"] for r in rows), **log.timing(seconds)}
