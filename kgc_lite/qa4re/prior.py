"""A label-free prior for entail answers: how readily the model says "yes" to each option statement, whatever
the sentence (kgc_lite/qa4re/classifier.py, answer mode "entail").

An untuned chat model says yes to nearly every statement, and more readily to some relations than to others
(Qwen2.5-Coder-1.5B names a relation for all but 1 of 600 SemEval pairs, stop 23). Taking the likeliest yes then
favours the relations the model likes, whatever the sentence says. The prior is each option's mean log-odds of
yes over unlabeled pairs of the user's own kind (their sentences and entity pairs; labels, if any, are never
read). Answering then takes the option whose yes is likeliest *relative to that mean*:

    score_i = log P_i(yes) / P_i(no) - prior_i

The idea is PriDe's (Zheng et al., ICLR 2024: estimate the model's prior once per task from its own answers and
divide it out), applied to statements rather than letters. A prior is estimated once per model and relation set
(`kgc-lite qa4re --prior-from pairs.jsonl --save-prior prior.json`, or `kgc-lite eval --prior-pairs N`) and
stored as JSON:

    {"kind": "kgc-lite entail prior", "model": ..., "model_sha256": ..., "schema": ..., "entail_examples": 0,
     "entail_layout": "statement-first", "pairs": N, "log_odds": {"Cause-Effect": 0.02, "Cause-Effect(e2,e1)": 0.18, ..., "Other": -0.81}}

(those three are Qwen2.5-Coder-1.5B-Instruct's, over 200 SemEval train pairs; docs/history.md, stop 24).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

import orjson

from kgc_lite.errors import InputError, KgcError
from kgc_lite.io.inputs import BadRecord

KIND = "kgc-lite entail prior"


def estimate(qa, pairs: Iterable, progress=None) -> dict:
    """The prior of `qa` (an entail QA4RE; a prior it already has does not change the log-odds) over unlabeled
    pairs: each option's mean log-odds of yes, by Option.key. Bad records, pairs of another relation set and
    pairs with no option are skipped; at least one good pair is needed."""
    from kgc_lite.qa4re.questions import check_pair
    if qa.answer_mode != "entail":
        raise KgcError("a prior is for entail answers (--answer entail)")
    answers = []
    start = time.perf_counter()
    for pair in pairs:
        if isinstance(pair, BadRecord) or pair.schema not in (None, qa.schema.name):
            continue  # a prior is one relation set's
        try:
            check_pair(pair)
            answers.append(qa.ask(pair))
        except InputError:
            continue
        if progress:
            progress()
    if not answers:
        raise KgcError("no usable pairs to estimate the prior from")
    return {"kind": KIND, "model": qa.model.spec.name, "model_sha256": qa.model.sha256, "schema": qa.schema.name,
            "entail_examples": qa.entail_examples, "entail_layout": qa.entail_layout, "pairs": len(answers),
            "seconds": round(time.perf_counter() - start, 2), "log_odds": mean_log_odds(answers)}


def for_run(qa, draw, drawn: dict, predictions: str | Path | None = None, resume: bool = False,
            progress=None) -> bool:
    """Give `qa` the prior an eval run answers with, estimated over the unlabeled pairs `draw()` returns (drawn as
    `drawn` says: split or data, seed, count). A run that saves its predictions keeps its prior beside them
    (PREDICTIONS.prior.json), and a --resume of it reads that back instead of estimating again: the estimate is
    the same (answers are order-free, QA4RE._settle), and for a 1.5B model it costs 200 pairs' time (27 min on
    2 cores). A kept prior drawn otherwise, or of another model or setting, is estimated afresh.
    True when the prior was read back."""
    kept = Path(f"{predictions}.prior.json") if predictions else None
    if resume and kept is not None and kept.is_file():
        try:
            prior = load(kept)
            if prior.get("drawn") == drawn:
                qa.use_prior(prior)  # refuses another model, relation set or entail setting
                return True
        except KgcError:
            pass  # unreadable or not this run's: estimated again below, and replaced
    prior = {**estimate(qa, draw(), progress), "drawn": drawn}
    qa.use_prior(prior)
    if kept is not None:
        save(prior, kept)
    return False


def mean_log_odds(answers: Iterable) -> dict[str, float]:
    """Each option's mean log-odds of yes (before any prior) over entail answers, by Option.key: the table of a
    prior."""
    return mean_by_key((option.key(), value) for ans in answers for option, value in zip(ans.options, ans.log_odds))


def mean_by_key(values: Iterable[tuple[str, float]]) -> dict[str, float]:
    """The mean of the values given for each key (option key, log-odds), rounded as a prior table stores it."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for key, value in values:
        sums[key] = sums.get(key, 0.0) + value
        counts[key] = counts.get(key, 0) + 1
    return {k: round(sums[k] / counts[k], 6) for k in sorted(sums)}


def choose(ans, log_odds: dict[str, float]):
    """The option an entail answer takes relative to a prior table (mean_log_odds): the largest log-odds of yes
    minus the option's mean. Used to score answers again under a prior estimated after them (the scored pairs'
    own, labels unread: `eval` reports it as the input prior)."""
    scores = [value - log_odds[o.key()] for o, value in zip(ans.options, ans.log_odds)]
    return ans.options[max(range(len(scores)), key=scores.__getitem__)]


def save(prior: dict, path: str | Path) -> None:
    from kgc_lite.io.output import write_atomic  # a kill while saving leaves the old file or the new one, never half
    write_atomic(Path(path), orjson.dumps(prior, option=orjson.OPT_INDENT_2) + b"\n")


def load(path: str | Path) -> dict:
    """A prior saved by `save`; KgcError with one line for anything else."""
    try:
        prior = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise KgcError(f"prior {path}: no such file") from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise KgcError(f"prior {path}: cannot read it as JSON ({exc})") from None
    if not isinstance(prior, dict) or prior.get("kind") != KIND or not isinstance(prior.get("log_odds"), dict):
        raise KgcError(f"prior {path}: not a kgc-lite entail prior (make one with `kgc-lite qa4re --prior-from "
                       "PAIRS --save-prior FILE`)")
    bad = [k for k, v in prior["log_odds"].items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
    if bad:
        raise KgcError(f"prior {path}: log_odds[{bad[0]!r}] is not a number")
    return prior


def check_matches(prior: dict, model_name: str, model_sha256: str | None, schema_name: str,
                  entail_examples: int = 0, entail_layout: str = "statement-first") -> None:
    """A prior measures one model on one relation set, asked with a number of demonstrations; refuse it for
    another (one line, KgcError)."""
    if prior.get("model_sha256") and model_sha256 and prior["model_sha256"] != model_sha256:
        raise KgcError(f"the prior was estimated with model {prior.get('model')} (sha256 "
                       f"{str(prior['model_sha256'])[:12]}…), not {model_name}; estimate one for this model")
    if prior.get("schema") != schema_name:
        raise KgcError(f"the prior was estimated for relation set {prior.get('schema')!r}, not {schema_name!r}")
    if prior.get("entail_examples", 0) != entail_examples:
        raise KgcError(f"the prior was estimated with {prior.get('entail_examples', 0)} entail examples, not "
                       f"{entail_examples}; estimate one with the same --entail-examples")
    if prior.get("entail_layout", "statement-first") != entail_layout:
        raise KgcError(f"the prior was estimated with the {prior.get('entail_layout', 'statement-first')} entail "
                       f"layout, not {entail_layout}; estimate one with the same --entail-layout")
