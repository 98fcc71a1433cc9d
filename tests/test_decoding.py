"""The fast decoder (kgc_lite/runtime/decoding.py) with the real models: same answers as the plain one-token-per-call
path, forced tokens and drafts really used, input order kept under continuous batching, confidences sane."""

import subprocess
import sys
import time

import orjson
import pytest

from kgc_lite.extract.extractor import ExtractOptions, Extractor
from kgc_lite.io.inputs import BadRecord, Document
from kgc_lite.models.resolve import resolve
from kgc_lite.runtime.decoding import Decoder, Request, _open_string_start

from .conftest import ROOT

TEXTS = ["John Smith works for IBM in Armonk , New York .", "Lee Harvey Oswald killed John F. Kennedy in Dallas .",
         "Apple Inc. is based in Cupertino , California .", "Nothing to see here .",
         "Maria Lopez , an engineer at Siemens , lives in Munich .", "Gandhi was killed by Godse in New Delhi .",
         "The novelist Chimamanda Adichie lives in Lagos , Nigeria .",
         "Satya Nadella , the chief executive of Microsoft , spoke in Redmond , Washington , on Tuesday ."]


@pytest.fixture(scope="module")
def tuned():
    """The shipped fine-tuned default, natural answers, as `kgc-lite extract` runs it."""
    r = resolve(None)
    return Extractor(options=ExtractOptions(style=r.spec.prompt_style, icl=r.spec.icl), resolved=r, n_threads=2)


@pytest.fixture(scope="module")
def untuned(default_model, engine):
    """The untuned base in code style with 3 examples: long answers that loop (the repeat guard stops them)."""
    return Extractor(options=ExtractOptions(style="code", max_tokens=160), resolved=default_model, engine=engine)


def _plain(extractor, texts):
    saved = extractor.options
    extractor.options = ExtractOptions(**{**saved.__dict__, "decoder": "plain"})
    try:
        return [extractor.answer(t) for t in texts]
    finally:
        extractor.options = saved


@pytest.mark.parametrize("which", ["tuned", "untuned"])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.slow
def test_fast_answers_equal_the_plain_path(request, which, batch):
    extractor = request.getfixturevalue(which)
    plain = _plain(extractor, TEXTS)
    fast = [a.text for a in extractor._decoder(batch).run(extractor._request(t) for t in TEXTS)]
    # A call of several tokens rounds differently from one-token calls, which can flip a greedy near-tie. The
    # tuned model is rarely near a tie (59/60 CoNLL04 sentences identical); the untuned one writes long
    # answers full of them (e.g. '"))' 19.58 vs '")),' 19.52), so it gets a looser bound.
    same = sum(a == b for a, b in zip(plain, fast))
    assert same >= (len(TEXTS) - 1 if which == "tuned" else len(TEXTS) // 2), list(zip(plain, fast))
    # Where they differ, they agree up to a late near-tie, never from the first token.
    assert all(a[:12] == b[:12] for a, b in zip(plain, fast))
    assert any("[" in a or "Triple(" in a for a in fast)


@pytest.mark.parametrize("merge_from", [1, None])
def test_forced_tokens_and_drafts_are_used(tuned, merge_from):
    """merge_from=1 is the GPU rule (every run of known tokens in one call, drafts riding along); None is the CPU
    rule, where runs shorter than MERGE_FROM go one token per call and drafts are rare."""
    stats = tuned.engine.stats
    before = (stats.generated_tokens, stats.forced_tokens, stats.drafted_tokens, stats.accepted_tokens,
              stats.decode_calls)
    decoder = Decoder(tuned.engine, tuned._prefix, n_seq=1, merge_from=merge_from)
    answers = list(decoder.run(tuned._request(t) for t in TEXTS))
    gen, forced, drafted, accepted, calls = (a - b for a, b in zip(
        (stats.generated_tokens, stats.forced_tokens, stats.drafted_tokens, stats.accepted_tokens,
         stats.decode_calls), before))
    assert gen == sum(len(a.tokens) for a in answers)
    # The JSON punctuation and the tails of relation names are forced: a good share of every answer.
    assert forced >= 0.25 * gen
    assert accepted <= drafted
    if merge_from == 1:
        assert drafted > 0 and accepted > 0
        # Fewer llama.cpp calls than answer tokens plus one prompt call per input: the point of it all.
        assert calls < gen + len(TEXTS)
    else:
        # One-token calls for short runs, but never a call for the end: fewer calls than tokens + prompts.
        assert calls < gen + 2 * len(TEXTS)
    assert [a.text for a in answers] == [a.text for a in decoder.run(tuned._request(t) for t in TEXTS)], \
        "the same inputs must decode the same way every time"
    for a in answers:
        assert len(a.probs) == len(a.tokens)
        assert all(p is None or 0.0 < p <= 1.0 for p in a.probs)
        assert a.finished


def test_confidence_is_a_probability_and_filters(tuned):
    found = tuned.extract_many(TEXTS, batch=4)
    scores = [t.confidence for ts in found for t in ts]
    assert scores and all(0.0 < c <= 1.0 for c in scores)
    saved = tuned.options
    try:
        cut = sorted(scores)[len(scores) // 2]
        tuned.options = ExtractOptions(**{**saved.__dict__, "min_confidence": cut})
        kept = [t for ts in tuned.extract_many(TEXTS, batch=4) for t in ts]
    finally:
        tuned.options = saved
    assert 0 < len(kept) < len(scores)
    assert all(t.confidence >= cut for t in kept)


def test_continuous_batching_keeps_input_order(tuned):
    docs = [Document("a", TEXTS[0]), BadRecord("b", "bad line"), Document("c", " ".join(TEXTS[1:6])),
            BadRecord("d", "another"), Document("e", TEXTS[6])]
    records = list(tuned.records(iter(docs), batch=3))
    assert [(r["id"], r.get("chunk")) for r in records] == (
        [("a", 0), ("b", None)] + [("c", i) for i in range(5)] + [("d", None), ("e", 0)])
    one = list(tuned.records(iter(docs), batch=1))
    assert [[t["head"] for t in r.get("triplets", [])] for r in records] == \
        [[t["head"] for t in r.get("triplets", [])] for r in one]


def test_a_slow_jsonl_stream_is_answered_record_by_record():
    proc = subprocess.Popen([sys.executable, "-m", "kgc_lite", "extract", "--jsonl", "--batch", "8",
                             "--threads", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    try:
        proc.stdin.write(orjson.dumps({"id": "first", "text": TEXTS[0]}) + b"\n")
        proc.stdin.flush()
        start = time.monotonic()
        line = proc.stdout.readline()  # blocks until the first record is written
        assert orjson.loads(line)["id"] == "first", proc.stderr.read()
        assert proc.poll() is None, "the process ended: it should still be waiting for more input"
        assert time.monotonic() - start < 120
        proc.stdin.write(orjson.dumps({"id": "second", "text": TEXTS[1]}) + b"\n")
        proc.stdin.close()
        rest = proc.stdout.read().splitlines()
        assert [orjson.loads(x)["id"] for x in rest] == ["second"]
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("text, start", [
    ('[["Satya', 3), ('[["Satya Nadella", "Work_for", "Mic', 32), ('[["a", "b"', None), ("", None),
    ('[["say \\"hi', 3), ('[["x\\\\", "', 10), ('Extract([Triple(Person("Jo', 24),
])
def test_open_string_start(text, start):
    assert _open_string_start(text) == start


def test_a_request_without_grammar_and_passthroughs(tuned):
    prefix = tuned._prefix
    reqs = [Request(payload="skip", passthrough=True),
            Request(tuned.prompt_tokens(TEXTS[2])[len(prefix):], None, TEXTS[2], max_tokens=5),
            Request(payload="skip2", passthrough=True)]
    out = list(Decoder(tuned.engine, prefix, n_seq=2).run(reqs))
    assert [a.request.payload for a in out] == ["skip", None, "skip2"]
    assert len(out[1].tokens) == 5 and not out[1].finished


@pytest.mark.slow
def test_answers_do_not_depend_on_how_fast_the_inputs_come(tuned):
    """Continuous batching admits an input as soon as a sequence is free; llama.cpp's arithmetic varies with the
    batch, so if admission followed the reader thread's timing, two runs of one command could answer differently
    (13 of 120 CoNLL04 val sentences did). Inputs that come within ADMIT_WAIT are admitted at the same step however
    fast they come, so these answers are identical."""
    rail = ROOT / "examples" / "railways" / "railways.jsonl"
    texts = TEXTS + [orjson.loads(line)["text"] for line in rail.read_bytes().splitlines()]

    def requests(delay: float):
        for i, text in enumerate(texts):
            if i % 3 == 1:
                time.sleep(delay)
            yield tuned._request(text)

    fast = [a.tokens for a in tuned._decoder(8).run(requests(0.0))]
    slow = [a.tokens for a in tuned._decoder(8).run(requests(0.03))]
    assert fast == slow, [i for i, (a, b) in enumerate(zip(fast, slow)) if a != b]


# -- the stop margin ----------------------------------------------------------------------------------------
class _Vocab:
    """Just enough of an engine for _ListEnds: a few pieces."""
    def __init__(self, pieces):
        self.pieces, self.n_vocab = pieces, len(pieces)

    def piece(self, token):
        return self.pieces[token]


def test_list_ends_reads_closing_and_going_on_from_the_bytes():
    from kgc_lite.runtime.decoding import _ListEnds
    pieces = [b'"]]', b'"],', b'"]', b"]]", b"]", b", [", b",", b' York"]]', b" York", b"Inc.,", b"x"]
    ends = _ListEnds(_Vocab(pieces))
    t = {p: i for i, p in enumerate(pieces)}
    after_tail = bytearray(b'[["a", "r", "b')      # the tail's last word written
    after_quote = bytearray(b'[["a", "r", "b"]')   # one triplet closed
    assert ends.closes(after_tail, t[b'"]]']) and ends.closes(after_quote, t[b"]"]) and ends.closes(after_quote, t[b"]]"])
    assert not ends.closes(after_tail, t[b'"]']) and not ends.closes(after_quote, t[b", ["]) and not ends.closes(after_tail, t[b"x"])
    assert ends.goes_on(after_tail, t[b'"],'], t[b'"]]']) and ends.goes_on(after_tail, t[b'"]'], t[b'"]]'])
    assert ends.goes_on(after_quote, t[b", ["], t[b"]"]) and ends.goes_on(after_quote, t[b","], t[b"]"])
    # never one that cuts the entity short, nor one that is not about the list at all
    assert not ends.goes_on(after_tail, t[b'"]'], t[b' York"]]'])
    assert not ends.goes_on(after_tail, t[b"Inc.,"], t[b'"]]']) and not ends.goes_on(after_tail, t[b"x"], t[b'"]]'])


def test_stop_margin_writes_more_triplets_and_keeps_the_greedy_ones(tuned):
    """With a margin the answer goes on where greedy decoding closed it: the greedy triplets come first, then
    more; with a margin of 0 nothing changes. Needs the fast decoder and the natural style. One text at a time:
    in a batch, longer answers change what shares each call, which may flip a near-tie elsewhere."""
    greedy = tuned.extract_many(TEXTS, batch=1)
    saved = tuned.options
    try:
        tuned.options = ExtractOptions(**{**saved.__dict__, "stop_margin": 30.0})
        more = tuned.extract_many(TEXTS, batch=1)
    finally:
        tuned.options = saved
    for g, m in zip(greedy, more):
        assert [t.key for t in m[: len(g)]] == [t.key for t in g]
    assert sum(map(len, more)) > sum(map(len, greedy))
    assert [[t.key for t in ts] for ts in tuned.extract_many(TEXTS, batch=1)] == [[t.key for t in ts] for ts in greedy]
    with pytest.raises(Exception, match="stop-margin needs the fast decoder"):
        Extractor(options=ExtractOptions(style="natural", decoder="plain", stop_margin=1.0), resolved=tuned.model,
                  engine=tuned.engine)
