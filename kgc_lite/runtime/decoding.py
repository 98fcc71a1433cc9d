"""Greedy decoding under a grammar, with every trick that keeps the answer identical to plain greedy decoding.

The plain loop (`Engine.generate`) evaluates one token per llama.cpp call and asks the grammar about it. This
decoder gives the same greedy answer with fewer, fuller calls:
- Forced tokens: after each chosen token the grammar's token mask is computed (llguidance, ~0.05 ms); while it
  allows exactly one token, that token is appended without a sampling step, and the run is evaluated in the
  same llama.cpp call as the token before it. When only end-of-sequence is allowed the answer ends without
  another call.
- Copy drafts: inside an entity string the answer copies the input, so the input's continuation is drafted
  (cut to what the grammar allows) and checked in a call that evaluates several known tokens anyway (on a GPU,
  or a long run on a CPU; see MERGE_FROM): each drafted token is kept while it is the model's
  own grammar-first greedy choice, the first one that is not is replaced by that choice, and the rejected tail
  is dropped from the KV cache. Greedy decoding makes the result the same as without drafts.
- Continuous batching: up to `n_seq` inputs decode together, each in its own sequence of one KV cache that
  shares the prompt prefix; a finished input's sequence takes the next input at once, its prompt evaluated in
  the same call as the others' next tokens. Answers come out in input order, each as soon as it and all before
  it are done.
Batched matrix products round differently from single ones, so a greedy near-tie can rarely go the other way;
`kgc-lite bench` counts how often answers differ from the plain loop.

One option departs from greedy on purpose: `stop_margin` (`extract --stop-margin`). A model trained mostly on
one-fact sentences closes its list after the first triplet where a text states several; with a margin of m it
closes the list only where the best token that closes it beats the best one that goes on by more than m (logits,
so nats). It reads the natural style's list syntax: `]]` closes the list, `],` goes on, `"]` closes a triplet.

The grammars stay GBNF (grammars/ is their one source); llguidance reads them through its GBNF converter.
"""

from __future__ import annotations

import queue
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from kgc_lite.errors import KgcError


@dataclass
class Request:
    """One input to decode. `suffix` follows the decoder's shared prefix; `source` is the text answers copy
    from (drafts come from it). A request with `passthrough` set is not decoded: it keeps its place in the
    output order (an input error reported in place, for example)."""
    suffix: list[int] = field(default_factory=list)
    grammar: str | None = None
    source: str = ""
    stop: Callable[[bytes], bool] | None = None
    max_tokens: int = 512
    payload: object = None
    passthrough: bool = False


@dataclass
class Answer:
    request: Request
    text: str = ""
    finished: bool = False
    tokens: list[int] = field(default_factory=list)
    # The model's probability (softmax over the whole vocabulary) of each token it chose; None where the grammar
    # allowed only that token.
    probs: list[float | None] = field(default_factory=list)


class _Grammars:
    """GBNF -> llguidance matchers, with one tokenizer view of llama.cpp's vocabulary per model."""

    def __init__(self, engine):
        import llguidance
        import llguidance.llamacpp
        from llguidance.gbnf_to_lark import gbnf_to_lark
        self._llg = llguidance
        self._convert = gbnf_to_lark
        with warnings.catch_warnings():
            # It reads each token's attributes through a call llama-cpp-python marks deprecated (49k warnings).
            warnings.simplefilter("ignore", DeprecationWarning)
            self.tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(engine.vocab)
        self.words = (engine.n_vocab + 31) // 32

    def matcher(self, gbnf: str):
        try:
            lark = self._convert(gbnf)
        except Exception as exc:  # the converter raises its own error types
            raise KgcError(f"internal error: grammar conversion failed: {exc}") from None
        m = self._llg.LLMatcher(self.tokenizer, self._llg.LLMatcher.grammar_from_lark(lark), log_level=0)
        if m.is_error():
            raise KgcError(f"internal error: the generated grammar does not compile: {m.get_error()}")
        return m


# With one sequence, runs of known tokens shorter than this are evaluated one token per llama.cpp call. Measured on
# this project's 2-core CPU (Q8_0 135M model, 1 thread): a call of k tokens took 7.1, 22.5, 29.0, 32.5 and 37.1 ms
# for k = 1, 2, 3, 4, 8 (another matrix kernel takes over above 1 token), so one call pays from about 5 tokens on.
# A fixed rule, not a timing taken at run time, so that the same input always decodes the same way. On a GPU a
# call of a few tokens costs about what a call of one does, so there every run goes in one call (merge_from=1).
MERGE_FROM = 5


# How long, at most, the decoder waits for the next input when a sequence is free while others run. Inputs that
# come sooner (a file, a pipe from a fast producer) are admitted at the same step in every run, so the batches, and
# with them llama.cpp's arithmetic and the answers, are the same run after run; admitting whatever had arrived by
# then made two runs of one command differ on 13 of 120 CoNLL04 val sentences. A stream slower than this (someone
# typing, `tail -f`) is not waited for again until it delivers, so it holds back running answers this much at most.
ADMIT_WAIT = 0.5


class _Slot:
    __slots__ = ("seq", "index", "req", "matcher", "mask", "mask_at", "out", "text", "probs", "pos", "feed",
                 "rows", "n_draft", "done", "finished")

    def __init__(self, seq: int, index: int, req: Request, matcher, words: int, pos: int):
        self.seq, self.index, self.req, self.matcher = seq, index, req, matcher
        self.mask = np.zeros(words, dtype=np.uint32)
        self.mask_at = -1              # len(out) when mask was computed: the grammar state it belongs to
        self.out: list[int] = []
        self.text = bytearray()        # the answer so far (the drafts read it)
        self.probs: list[float | None] = []
        self.pos = pos                 # next KV position of this sequence
        self.feed: list[int] = list(req.suffix)  # tokens to evaluate in the next call
        self.rows: list[np.ndarray] = []         # logits returned for the feed's wanted positions
        self.n_draft = 0               # how many of the feed's last tokens are an unverified draft
        self.done = False
        self.finished = False


class Decoder:
    """Decodes requests that share `prefix`, `n_seq` at a time, with forced tokens and copy drafts."""

    def __init__(self, engine, prefix: list[int], n_seq: int = 1, drafts: bool = True, max_draft: int = 6,
                 prefetch: bool | None = None, merge_from: int | None = None, probs: bool = True,
                 stop_margin: float = 0.0):
        self.engine = engine
        self.lib = engine._lib
        self.prefix = list(prefix)
        self.n_seq = max(1, n_seq)
        self.drafts = drafts
        self.max_draft = max_draft
        if merge_from is None:
            merge_from = 1 if getattr(engine, "n_gpu_layers", 0) else MERGE_FROM
        self.merge_from = merge_from
        self.probs = probs  # each chosen token's probability (a softmax over the vocabulary per token)
        self.prefetch = self.n_seq > 1 if prefetch is None else prefetch
        self.grammars = engine.grammars()
        self.eos = self.lib.llama_vocab_eos(engine.vocab)
        self.stop_margin = stop_margin
        self.list_ends = engine.list_ends() if stop_margin else None

    # -- public ------------------------------------------------------------------------------------------
    def run(self, requests: Iterable[Request]) -> Iterator[Answer]:
        """Answers in the order of `requests`, each yielded as soon as it and every earlier one are done.
        `requests` is read lazily; with n_seq > 1 a reader thread takes them as they come, so a slow stream
        never holds back answers to what has already arrived."""
        eng = self.engine
        eng._batch_context(self.n_seq)
        mem = self.lib.llama_get_memory(eng._bctx)
        self._mem = mem
        eng.load_batch_prefix(self.prefix)
        source = _Prefetch(requests) if self.prefetch else _Direct(requests)
        free = list(range(self.n_seq, 0, -1))
        active: list[_Slot] = []
        ready: dict[int, Answer] = {}
        next_index = emit = 0
        patient = True  # False once the stream kept a free sequence waiting ADMIT_WAIT, until it delivers again
        try:
            while True:
                # Admit new inputs into free sequences: wait for input without limit when nothing else can run,
                # else up to ADMIT_WAIT (see there) unless the stream has just proved slow.
                while free:
                    req = source.get(None if not active else (ADMIT_WAIT if patient else 0.0))
                    if req is None:
                        patient = False
                        break
                    patient = True
                    index, next_index = next_index, next_index + 1
                    if req.passthrough:
                        ready[index] = Answer(req, finished=True)
                        continue
                    if len(self.prefix) + len(req.suffix) + req.max_tokens + self.max_draft + 2 > eng.n_ctx:
                        raise KgcError(f"input of {len(req.suffix)} tokens does not fit the context; "
                                       "use a smaller --max-chars")
                    seq = free.pop()
                    self.lib.llama_memory_seq_rm(mem, seq, -1, -1)
                    self.lib.llama_memory_seq_cp(mem, 0, seq, -1, -1)
                    matcher = self.grammars.matcher(req.grammar) if req.grammar else None
                    active.append(_Slot(seq, index, req, matcher, self.grammars.words, len(self.prefix)))
                    eng.stats.prompt_tokens += len(req.suffix)
                    eng.stats.cached_tokens += len(self.prefix)
                while emit in ready:
                    yield ready.pop(emit)
                    emit += 1
                if not active:
                    if source.exhausted:
                        break
                    continue
                self._evaluate(active)
                for slot in active:
                    self._advance(slot)
                for slot in [s for s in active if s.done]:
                    active.remove(slot)
                    self.lib.llama_memory_seq_rm(mem, slot.seq, -1, -1)
                    free.append(slot.seq)
                    ready[slot.index] = self._answer(slot)
                while emit in ready:
                    yield ready.pop(emit)
                    emit += 1
        finally:
            source.close()
            for slot in active:
                self.lib.llama_memory_seq_rm(mem, slot.seq, -1, -1)

    # -- evaluation --------------------------------------------------------------------------------------
    def _evaluate(self, active: list[_Slot]) -> None:
        """One llama.cpp call (more if the batch is over capacity) for every slot's pending feed. Logits are
        kept for the position before the draft and every drafted position (one row without a draft)."""
        eng = self.engine
        entries: list[tuple[int, int, int, bool]] = []
        owners: list[_Slot] = []
        start = time.perf_counter()
        prompt_like = 0
        if len(active) == 1 and self._one_per_call(active[0]):
            slot = active[0]
            for j, t in enumerate(slot.feed):
                eng._decode([(t, slot.pos + j, slot.seq, j == len(slot.feed) - 1)])
            ptr = self.lib.llama_get_logits_ith(eng._bctx, 0)
            slot.rows = [np.ctypeslib.as_array(ptr, shape=(eng.n_vocab,)).copy()]
            eng.stats.decode_calls += len(slot.feed)
            eng.stats.generate_seconds += time.perf_counter() - start
            return
        for slot in active:
            slot.rows = []
            n = len(slot.feed)
            first_row = n - 1 - slot.n_draft
            for j, t in enumerate(slot.feed):
                want = j >= first_row
                entries.append((t, slot.pos + j, slot.seq, want))
                if want:
                    owners.append(slot)
                if len(entries) == eng._bcap:
                    self._flush(entries, owners)
                    entries, owners = [], []
            if not slot.out:
                prompt_like += n
        self._flush(entries, owners)
        spent = time.perf_counter() - start
        eng.stats.decode_calls += 1
        # Split the call's time between prompt and generation by token share (they share one call).
        total = sum(len(s.feed) for s in active) or 1
        eng.stats.prompt_seconds += spent * prompt_like / total
        eng.stats.generate_seconds += spent * (total - prompt_like) / total

    def _one_per_call(self, slot: _Slot) -> bool:
        """One sequence on a CPU: a short run of answer tokens with no draft goes one token per call, cheaper
        there than one call (see MERGE_FROM). Never the prompt (an empty answer) and never in a batch."""
        return (self.n_seq == 1 and bool(slot.out) and not slot.n_draft and len(slot.feed) < self.merge_from)

    def _flush(self, entries, owners) -> None:
        if not entries:
            return
        self.engine._decode(entries)
        row = 0
        for i, entry in enumerate(entries):
            if entry[3]:
                ptr = self.lib.llama_get_logits_ith(self.engine._bctx, i)
                owners[row].rows.append(np.ctypeslib.as_array(ptr, shape=(self.engine.n_vocab,)).copy())
                row += 1

    # -- choosing tokens ---------------------------------------------------------------------------------
    def _advance(self, slot: _Slot) -> None:
        """After an evaluation: verify the draft, then choose the next tokens and set the next feed."""
        stats = self.engine.stats
        slot.pos += len(slot.feed)
        rows, n_draft, draft = slot.rows, slot.n_draft, slot.feed[len(slot.feed) - slot.n_draft:]
        slot.feed, slot.n_draft = [], 0
        logits = rows[0]
        for i, token in enumerate(draft):
            choice, prob = self._choose(slot, logits)
            if choice != token:
                # Drop the rejected tail (positions of draft[i:]) from this sequence's cache.
                self.lib.llama_memory_seq_rm(self._mem, slot.seq, slot.pos - (n_draft - i), -1)
                slot.pos -= n_draft - i
                self._take(slot, choice, prob)
                return
            stats.accepted_tokens += 1
            if self._append(slot, token, prob):
                return
            logits = rows[i + 1]
        choice, prob = self._choose(slot, logits)
        self._take(slot, choice, prob)

    def _take(self, slot: _Slot, token: int, prob: float) -> None:
        """Append a chosen token, then the forced run after it, then a draft; set them as the next feed."""
        if self.lib.llama_vocab_is_eog(self.engine.vocab, token):
            slot.done = slot.finished = True
            return
        start = len(slot.out)
        if self._append(slot, token, prob):
            return
        m = slot.matcher
        while m is not None:
            allowed = self._single_allowed(slot)
            if allowed is None:
                break
            if allowed == self.eos:
                slot.done = slot.finished = True
                return
            self.engine.stats.forced_tokens += 1
            if self._append(slot, allowed, None):
                return
        slot.feed = slot.out[start:]
        # One sequence: a draft rides along only where the known tokens go in one call anyway (_one_per_call).
        # In a batch every extra token costs compute that other sequences could use, so no drafts there.
        drafting = self.drafts and m is not None and self.n_seq == 1 and not self._one_per_call(slot)
        draft = self._draft(slot) if drafting else []
        if draft:
            slot.feed += draft
            slot.n_draft = len(draft)
            self.engine.stats.drafted_tokens += len(draft)

    def _append(self, slot: _Slot, token: int, prob: float | None) -> bool:
        """Add a token to the answer (and the grammar state); True when the answer must end here."""
        if slot.matcher is not None and not slot.matcher.consume_token(token):
            raise KgcError(f"internal error: grammar rejected token {token}: {slot.matcher.get_error()}")
        piece = self.engine.piece(token)
        slot.out.append(token)
        slot.text += piece
        slot.probs.append(prob)
        self.engine.stats.generated_tokens += 1
        req = slot.req
        if (req.stop is not None and req.stop(piece)) or len(slot.out) >= req.max_tokens:
            slot.done = True
            return True
        return False

    def _choose(self, slot: _Slot, logits: np.ndarray) -> tuple[int, float | None]:
        """Grammar-first greedy: the argmax if the grammar allows it, else the best allowed token; with its
        probability under the model (None unless the decoder keeps probabilities)."""
        token = int(np.argmax(logits))
        if slot.matcher is not None:
            self._fill_mask(slot)
            if not (slot.mask[token >> 5] >> np.uint32(token & 31)) & 1:
                self.engine.stats.full_grammar_passes += 1
                bits = np.unpackbits(slot.mask.view(np.uint8), bitorder="little")[: len(logits)].astype(bool)
                if not bits.any():
                    raise KgcError("internal error: the grammar allows no token")
                token = int(np.argmax(np.where(bits, logits, -np.inf)))
            if self.list_ends is not None and self.list_ends.closes(slot.text, token):
                token = self._go_on(slot, logits, token)
        if not self.probs:
            return token, None
        top = float(logits.max())
        return token, float(np.exp(logits[token] - top) / np.exp(logits - top).sum())

    def _go_on(self, slot: _Slot, logits: np.ndarray, closing: int) -> int:
        """The stop margin: the best allowed token that goes on with the list (or closes just the triplet)
        instead of `closing`, unless `closing` beats it by more than the margin."""
        self._fill_mask(slot)
        ends = self.list_ends
        allowed = (slot.mask[ends.ids >> 5] >> (ends.ids & 31).astype(np.uint32)) & np.uint32(1)
        ids = ends.ids[allowed.astype(bool)]
        best, best_logit = closing, -np.inf
        for token in ids:
            if logits[token] > best_logit and ends.goes_on(slot.text, int(token), closing):
                best, best_logit = int(token), float(logits[token])
        return best if best_logit + self.stop_margin >= logits[closing] else closing

    def _fill_mask(self, slot: _Slot) -> None:
        """The grammar's mask for the slot's current state, computed once per state (the forced-token check
        and the next choice read the same one)."""
        if slot.mask_at != len(slot.out):
            slot.matcher.unsafe_compute_mask_ptr(slot.mask.ctypes.data, slot.mask.nbytes)
            slot.mask_at = len(slot.out)

    def _single_allowed(self, slot: _Slot) -> int | None:
        """The one token the grammar allows next, or None when it allows several."""
        self._fill_mask(slot)
        nz = np.flatnonzero(slot.mask)
        if len(nz) != 1:
            return None
        word = int(slot.mask[nz[0]])
        if word & (word - 1):
            return None
        return int(nz[0]) * 32 + word.bit_length() - 1

    def _draft(self, slot: _Slot) -> list[int]:
        """The input's continuation of the entity string being written, cut to what the grammar allows."""
        text = slot.text.decode("utf-8", errors="replace")
        quote = _open_string_start(text)
        if quote is None:
            return []
        written = text[quote:]
        source = slot.req.source
        if not written or not source:
            return []
        at = source.find(written)
        if at < 0:
            return []
        # Only the rest of the current word and the next word: an entity ends at some word boundary, and each
        # drafted token past it costs a wasted position in the call.
        m = _NEXT_WORD.match(source, at + len(written))
        rest = m.group() if m else ""
        if not rest:
            return []
        tokens = self.engine.tokenize(rest, special=False)[: self.max_draft]
        n = slot.matcher.validate_tokens(tokens)
        return tokens[:n] if n >= 1 else []

    def _answer(self, slot: _Slot) -> Answer:
        return Answer(slot.req, self.engine.detokenize(slot.out), slot.finished, slot.out, slot.probs)


_NEXT_WORD = re.compile(r"\S*\s*\S+")


class _ListEnds:
    """The tokens that can close or go on with a natural-style triplet list, read from their bytes after the
    answer so far: `]]` closes the list, `],` goes on with it, and a lone `"]` closes one triplet, leaving both.
    A token that goes on instead of a closing one must write the same bytes before its first `]` or `,`: `"],`
    may stand in for `"]]`, but `"]` may not stand in for ` York"]]` (that would cut the entity short)."""

    def __init__(self, engine):
        pieces = ((t, engine.piece(t)) for t in range(engine.n_vocab))
        self.pieces = {t: p for t, p in pieces if b"]" in p or b"," in p}
        self.ids = np.array(sorted(self.pieces), dtype=np.int64)

    def _after(self, text: bytearray, token: int) -> bytes | None:
        piece = self.pieces.get(token)
        return None if piece is None else bytes(text[-2:]) + piece

    def closes(self, text: bytearray, token: int) -> bool:
        after = self._after(text, token)
        return after is not None and b"]]" in after

    def goes_on(self, text: bytearray, token: int, closing: int) -> bool:
        after = self._after(text, token)
        return (after is not None and b"]]" not in after and (b"]," in after or after.endswith(b'"]'))
                and _lead(self.pieces[token]) == _lead(self.pieces[closing]))


def _lead(piece: bytes) -> bytes:
    """What a piece writes before its first `]` or `,`."""
    cuts = [i for i in (piece.find(b"]"), piece.find(b",")) if i >= 0]
    return piece[: min(cuts)] if cuts else piece


def _open_string_start(text: str) -> int | None:
    """Index just after the opening quote of a JSON string still open at the end of text, else None."""
    inside, start, escaped = False, None, False
    for i, ch in enumerate(text):
        if inside:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                inside = False
        elif ch == '"':
            inside, start = True, i + 1
    return start if inside else None


class _Direct:
    """Requests read on demand, in the decoding thread (one input at a time needs no reader thread)."""

    def __init__(self, requests: Iterable[Request]):
        self._it = iter(requests)
        self.exhausted = False

    def get(self, wait: float | None) -> Request | None:
        """The next request, or None at the end. Only fetched when it may be waited for (wait=None: nothing is
        active): one sequence admits a new input only then."""
        if self.exhausted or wait is not None:
            return None
        try:
            return next(self._it)
        except StopIteration:
            self.exhausted = True
            return None

    def close(self) -> None:
        pass


class _Prefetch:
    """Requests read by a background thread, so decoding goes on while the input stream is slow."""

    _END = object()

    def __init__(self, requests: Iterable[Request], depth: int = 256):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self.exhausted = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(iter(requests),), daemon=True)
        self._thread.start()

    def _read(self, it) -> None:
        try:
            for req in it:
                if not self._put(req):
                    return
            self._put(self._END)
        except BaseException as exc:  # hand the reader's error to the decoding thread
            self._put(exc)

    def _put(self, item) -> bool:
        """Queue item, waiting while the queue is full; False if the decoder stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, wait: float | None) -> Request | None:
        """The next request; None at the end, or when none came within `wait` seconds (None: no limit)."""
        if self.exhausted:
            return None
        try:
            item = self._q.get(block=wait != 0, timeout=wait or None)
        except queue.Empty:
            return None
        if item is self._END:
            self.exhausted = True
            return None
        if isinstance(item, BaseException):
            self.exhausted = True
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
