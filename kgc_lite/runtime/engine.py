"""The model engine: llama.cpp through llama-cpp-python, greedy decoding under a GBNF grammar.

Three things make it faster than calling `create_completion` per input (kgc_lite/runtime/decoding.py adds more):
- Prefix reuse: callers pass the prompt as (prefix tokens, input tokens); the KV cache of the longest common
  prefix with the previous call is kept, so a fixed instruction + examples prefix is evaluated once.
- Grammar-first sampling: the grammar is checked against the greedy token only, and applied to the whole
  vocabulary only when that token is rejected. Applying it to 49k candidates every step is what makes
  grammar-constrained generation cost ~0.6x in llama-cpp-python's own sampler.
- One-pass letter answers: `next_logits` returns the logits after the prompt, with no sampling loop.
Decoding is greedy (temperature 0), so results are deterministic for a given model, prompt and build, and for
a given history of the KV cache: llama.cpp's CPU arithmetic varies slightly with how tokens are batched (with
Qwen2.5-Coder-1.5B Q4_K_M, not with the 135M Q8_0 models), so `next_logits(tokens, keep=N)` lets a caller
evaluate from a fixed point instead of wherever the last call left the cache (QA4RE._settle does).
"""

from __future__ import annotations

import ctypes
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kgc_lite.errors import KgcError

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


@dataclass
class EngineStats:
    prompt_tokens: int = 0       # tokens actually evaluated (after prefix reuse)
    cached_tokens: int = 0       # prompt tokens served from the KV cache
    generated_tokens: int = 0
    prompt_seconds: float = 0.0
    generate_seconds: float = 0.0
    full_grammar_passes: int = 0  # steps where the greedy token was rejected and the grammar ran over the vocab
    calls: int = 0
    decode_calls: int = 0        # llama.cpp evaluations by the fast decoder (kgc_lite/runtime/decoding.py)
    forced_tokens: int = 0       # answer tokens the grammar allowed alone, appended without a sampling step
    drafted_tokens: int = 0      # tokens drafted from the input inside entity strings
    accepted_tokens: int = 0     # drafted tokens that were the model's own greedy choice
    extra: dict = field(default_factory=dict)


_OFFLOAD_LOG: list[str] = []


def _quiet_llama_logs() -> None:
    """Silence llama.cpp's loading chatter (kgc-lite's stderr is for the user), keeping the offload report."""
    import llama_cpp
    if getattr(_quiet_llama_logs, "keep", None):
        return

    def keep_offload_lines(level, text, user_data):
        if text and b"offloaded" in text:
            _OFFLOAD_LOG.append(text.decode("utf-8", errors="replace").strip())

    cb = llama_cpp.llama_log_callback(keep_offload_lines)
    _quiet_llama_logs.keep = cb  # the callback must outlive this call
    llama_cpp.llama_log_set(cb, ctypes.c_void_p(0))


def amx_buffers_off() -> bool:
    """Whether models load without llama.cpp's extra CPU weight buffers (AMX tiles, repacked quants): on a CPU
    with AMX (Intel Sapphire Rapids and later), llama-cpp-python 0.3.36 built for the machine crashes with a
    segmentation fault on the first evaluation of more than one token (ggml's AMX matmul; llama.cpp issue
    20824), so they are off there. KGC_LITE_EXTRA_BUFFERS=1 keeps them anyway, =0 turns them off everywhere."""
    import llama_cpp
    forced = os.environ.get("KGC_LITE_EXTRA_BUFFERS", "").strip()
    if forced in ("0", "1"):
        return forced == "0"
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def open_llama(**kwargs):
    """llama_cpp.Llama(**kwargs), with the extra CPU weight buffers off where amx_buffers_off() says so (Llama
    has no argument for it: its default model parameters are swapped for the call)."""
    import llama_cpp
    from llama_cpp import llama as llama_module
    bindings = llama_module.llama_cpp
    default = bindings.llama_model_default_params
    if not amx_buffers_off() or not hasattr(bindings.llama_model_params, "use_extra_bufts"):
        return llama_cpp.Llama(**kwargs)

    def without_extra_buffers():
        params = default()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = without_extra_buffers
    try:
        return llama_cpp.Llama(**kwargs)
    finally:
        bindings.llama_model_default_params = default


def gpu_offload_supported() -> bool:
    """Whether this llama-cpp-python build has a GPU backend (CUDA, Metal, Vulkan, ...)."""
    import llama_cpp
    return bool(llama_cpp.llama_supports_gpu_offload())


def resolve_gpu_layers(requested: int | None, warn=None) -> int:
    """Layers to offload: all by default when the build can offload, none otherwise. Asking for offload on a
    CPU-only build is not an error (the model still runs) but deserves a clear warning."""
    supported = gpu_offload_supported()
    if requested is None:
        return -1 if supported else 0
    if requested != 0 and not supported and warn is not None:
        warn("--n-gpu-layers was given but this llama-cpp-python build has no GPU backend, so the model runs on "
             "the CPU; reinstall it with CMAKE_ARGS=\"-DGGML_CUDA=on\" (or -DGGML_METAL=on), see README")
    return requested if supported else 0


class Engine:
    """A loaded GGUF model with one context, used for one input at a time."""

    def __init__(self, path: str | os.PathLike, n_ctx: int = 4096, n_threads: int | None = None,
                 n_gpu_layers: int = 0, n_batch: int = 512, verbose: bool = False):
        import llama_cpp
        if not verbose:
            _quiet_llama_logs()
        _OFFLOAD_LOG.clear()
        self._lib = llama_cpp
        try:
            self.llm = open_llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads or default_threads(),
                                  n_threads_batch=n_threads or default_threads(), n_gpu_layers=n_gpu_layers,
                                  n_batch=n_batch, logits_all=False, verbose=verbose)
        except (ValueError, RuntimeError) as exc:
            raise KgcError(f"llama.cpp could not load {path}: {exc}") from None
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers
        self.offload_report = " ".join(_OFFLOAD_LOG)  # llama.cpp's "offloaded N/M layers to GPU", if it said so
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.n_vocab = self.llm.n_vocab()
        self._cands = (llama_cpp.llama_token_data * self.n_vocab)()
        self._cand_view = np.frombuffer(self._cands, dtype=_TOKEN_DATA)
        self._cand_view["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self._one = (llama_cpp.llama_token_data * 1)()
        self.stats = EngineStats()
        self._pieces: dict[int, bytes] = {}

    # -- tokens -----------------------------------------------------------------------------------
    def tokenize(self, text: str, bos: bool = False, special: bool = True) -> list[int]:
        """Tokens of text; special=False for user text, so '<|im_start|>' in a document stays plain text."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=special)

    def detokenize(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")

    def piece(self, token: int) -> bytes:
        """One token's bytes, looked up once per token id (stop checks and confidences read it per token)."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self.llm.detokenize([token])
        return piece

    # -- evaluation -------------------------------------------------------------------------------
    def held(self, tokens: list[int]) -> int:
        """How many leading tokens of `tokens` the context holds now."""
        held = self.llm.input_ids[: self.llm.n_tokens]
        common, limit = 0, min(len(held), len(tokens))
        while common < limit and held[common] == tokens[common]:
            common += 1
        return common

    def _feed(self, tokens: list[int], keep: int | None = None) -> None:
        """Make the context hold exactly `tokens`, evaluating only what differs from what it holds (and at most
        `keep` tokens of it kept)."""
        if len(tokens) >= self.n_ctx:
            raise KgcError(f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}")
        limit = len(tokens) - 1 if keep is None else min(len(tokens) - 1, keep)  # at least one token is
        common = self.held(tokens[:limit])                                        # evaluated: fresh logits
        self.llm.n_tokens = common
        start = time.perf_counter()
        self.llm.eval(tokens[common:])
        self.stats.prompt_seconds += time.perf_counter() - start
        self.stats.prompt_tokens += len(tokens) - common
        self.stats.cached_tokens += common

    def _logits(self) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def next_logits(self, tokens: list[int], keep: int | None = None) -> np.ndarray:
        """Logits of the token that would follow `tokens` (a copy), after one forward pass. keep: reuse at most
        this many tokens of the KV cache (llama.cpp's CPU results vary slightly with how tokens are batched, so
        a caller that wants results independent of what came before evaluates from a fixed point)."""
        self.stats.calls += 1
        self._feed(tokens, keep)
        return self._logits().copy()

    def generate(self, tokens: list[int], grammar: str | None, max_tokens: int = 512,
                 stop: Callable[[bytes], bool] | None = None) -> tuple[str, bool]:
        """Greedy continuation of `tokens` under a GBNF grammar; returns (text, finished).

        `stop`, if given, sees each new token's bytes and may end generation early by returning True
        (finished is then False).
        """
        lib = self._lib
        self.stats.calls += 1
        self._feed(tokens)
        sampler = None
        if grammar is not None:
            sampler = lib.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
            if not sampler:
                raise KgcError("internal error: the generated grammar does not parse")
        out: list[int] = []
        finished = False
        start = time.perf_counter()
        try:
            for _ in range(max_tokens):
                logits = self._logits()
                token = self._pick(sampler, logits)
                if lib.llama_vocab_is_eog(self.vocab, token):
                    finished = True
                    break
                if sampler is not None:
                    lib.llama_sampler_accept(sampler, token)
                out.append(token)
                if stop is not None and stop(self.piece(token)):
                    break
                self.llm.eval([token])
        finally:
            if sampler is not None:
                lib.llama_sampler_free(sampler)
            self.stats.generate_seconds += time.perf_counter() - start
            self.stats.generated_tokens += len(out)
        return self.detokenize(out), finished

    def grammar_accepts(self, grammar: str, text: str) -> bool:
        """Whether the grammar accepts text as a complete answer (for tests and debugging)."""
        lib = self._lib
        sampler = lib.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            raise KgcError("grammar does not parse")
        try:
            for token in self.tokenize(text, special=False):
                if not self._allowed(sampler, token, 0.0):
                    return False
                lib.llama_sampler_accept(sampler, token)
            return self._allowed(sampler, lib.llama_vocab_eos(self.vocab), 0.0)
        finally:
            lib.llama_sampler_free(sampler)

    def _pick(self, sampler, logits: np.ndarray) -> int:
        """Grammar-first greedy choice: the argmax if the grammar allows it, else the best allowed token."""
        token = int(np.argmax(logits))
        if sampler is not None and not self._allowed(sampler, token, float(logits[token])):
            token = self._constrained_argmax(sampler, logits)
        return token

    def _allowed(self, sampler, token: int, logit: float) -> bool:
        lib = self._lib
        self._one[0].id, self._one[0].logit, self._one[0].p = token, logit, 0.0
        arr = lib.llama_token_data_array(self._one, 1, -1, False)
        lib.llama_sampler_apply(sampler, ctypes.byref(arr))
        return self._one[0].logit != float("-inf")

    def _constrained_argmax(self, sampler, logits: np.ndarray) -> int:
        lib = self._lib
        self.stats.full_grammar_passes += 1
        view = self._cand_view
        view["logit"] = logits
        view["p"] = 0.0
        arr = lib.llama_token_data_array(self._cands, self.n_vocab, -1, False)
        lib.llama_sampler_apply(sampler, ctypes.byref(arr))
        best = int(np.argmax(view["logit"]))
        if view["logit"][best] == float("-inf"):
            raise KgcError("internal error: the grammar allows no token")
        return best

    # -- batched evaluation (used by kgc_lite/runtime/decoding.py) ---------------------------------------------------
    def grammars(self):
        """llguidance's view of this model's vocabulary, built once (about a second) and kept."""
        if getattr(self, "_grammars", None) is None:
            from kgc_lite.runtime.decoding import _Grammars
            self._grammars = _Grammars(self)
        return self._grammars

    def list_ends(self):
        """The tokens that close or go on with a triplet list (the stop margin), read from the vocabulary once."""
        if getattr(self, "_list_ends", None) is None:
            from kgc_lite.runtime.decoding import _ListEnds
            self._list_ends = _ListEnds(self)
        return self._list_ends

    def _batch_context(self, n_seq: int):
        lib = self._lib
        if getattr(self, "_bctx", None) is not None and self._bctx_seqs >= n_seq:
            return
        self._close_batch_context()
        params = lib.llama_context_default_params()
        params.n_ctx = self.n_ctx + n_seq * 1024
        params.n_batch = self._bcap = 2048
        params.n_ubatch = 512
        params.n_seq_max = n_seq + 1
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = self.llm.context_params.n_threads
        params.no_perf = True
        # The same attention kernel as the Llama context (flash attention off by default there, "auto" here):
        # otherwise the two paths round differently and greedy near-ties flip between them.
        params.flash_attn_type = self.llm.context_params.flash_attn_type
        self._bctx = lib.llama_init_from_model(self.llm.model, params)
        if not self._bctx:
            raise KgcError("llama.cpp could not create a batched context (out of memory?); try --batch 1")
        self._bctx_seqs = n_seq
        self._bbatch = lib.llama_batch_init(self._bcap, 0, n_seq + 1)
        self._bprefix: list[int] = []

    def load_batch_prefix(self, prefix: list[int]) -> bool:
        """Make sequence 0 of the batched context hold exactly `prefix` (evaluated once, kept while unchanged):
        every input's sequence starts as a copy of it. True when it already held it."""
        if self._bprefix == prefix:
            return True
        lib = self._lib
        lib.llama_memory_clear(lib.llama_get_memory(self._bctx), True)
        start = time.perf_counter()
        for i in range(0, len(prefix), self._bcap):
            self._decode([(t, i + j, 0, False) for j, t in enumerate(prefix[i:i + self._bcap])])
        self._bprefix = list(prefix)
        self.stats.prompt_tokens += len(prefix)
        self.stats.prompt_seconds += time.perf_counter() - start
        return False

    def _close_batch_context(self) -> None:
        if getattr(self, "_bctx", None) is not None:
            self._lib.llama_batch_free(self._bbatch)
            self._lib.llama_free(self._bctx)
            self._bctx = None

    def fork_logits(self, prefix: list[int], shared: list[int], tails: list[list[int]]) -> list[np.ndarray]:
        """The next-token logits after prefix + shared + tail for each tail, evaluated in the batched context:
        `prefix` once while it stays the same (sequence 0), `shared` once on top of it for all tails (its
        tokens belong to every tail's sequence), then every tail in its own sequence, all in one llama.cpp call
        (more if over the batch capacity). One call over a pair's 19 statements instead of 19 calls: on a CPU,
        small batches use the matrix kernels poorly. Each tail's logits depend only on prefix, shared and the
        tails asked with it, never on what was evaluated before."""
        return [rows[-1] for rows in self._fork(prefix, shared, tails, every=False)]

    def fork_logprobs(self, prefix: list[int], shared: list[int], tails: list[list[int]]) -> list[list[float]]:
        """Teacher-forced log-probabilities, evaluated as fork_logits does: for each tail, log p(tail[j + 1] |
        prefix + shared + tail[:j + 1]) for every j. A tail's first token is given, not scored (put the context's
        last token there to score a whole continuation)."""
        out = []
        for tail, rows in zip(tails, self._fork(prefix, shared, tails, every=True)):
            scores = []
            for row, token in zip(rows, tail[1:]):
                top = float(row.max())
                scores.append(float(row[token]) - top - math.log(float(np.exp(row - top).sum())))
            out.append(scores)
        return out

    def _fork(self, prefix: list[int], shared: list[int], tails: list[list[int]],
              every: bool) -> list[list[np.ndarray]]:
        """Per tail, the logits rows after its last token (every=False) or after each of its tokens but the last
        (every=True)."""
        n = len(tails)
        if n == 0:
            return []
        if not all(tails) or (every and not all(len(t) > 1 for t in tails)):
            raise KgcError("internal error: every tail needs at least one token (its logits), two to be scored")
        end = len(prefix) + len(shared) + max(map(len, tails))
        if end >= self.n_ctx:
            raise KgcError(f"prompt of {end} tokens does not fit the context of {self.n_ctx}")
        self.stats.calls += 1
        self._batch_context(n)
        lib = self._lib
        mem = lib.llama_get_memory(self._bctx)
        cached = self.load_batch_prefix(prefix)
        start = time.perf_counter()
        seqs = tuple(range(1, n + 1))
        for seq in range(1, self._bctx_seqs + 1):  # a pair with more tails may have left cells in higher ones
            lib.llama_memory_seq_rm(mem, seq, -1, -1)
        for seq in seqs:
            lib.llama_memory_seq_cp(mem, 0, seq, -1, -1)
        base = len(prefix)
        for i in range(0, len(shared), self._bcap):
            self._decode([(t, base + i + j, seqs, False) for j, t in enumerate(shared[i:i + self._bcap])])
        base += len(shared)
        entries = [(t, base + j, seq, j < len(tail) - 1 if every else j == len(tail) - 1)
                   for seq, tail in zip(seqs, tails) for j, t in enumerate(tail)]
        owner = [k for k, tail in enumerate(tails) for _ in tail]
        rows: list[list[np.ndarray]] = [[] for _ in tails]
        for i in range(0, len(entries), self._bcap):
            chunk = entries[i:i + self._bcap]
            self._decode(chunk)
            for k, entry in enumerate(chunk):
                if entry[3]:
                    row = np.ctypeslib.as_array(lib.llama_get_logits_ith(self._bctx, k), shape=(self.n_vocab,))
                    rows[owner[i + k]].append(row.copy())
        self.stats.prompt_seconds += time.perf_counter() - start
        # as if each tail's whole prompt were asked: what was evaluated now, and the rest served from the cache
        self.stats.prompt_tokens += len(shared) + len(entries)
        self.stats.cached_tokens += n * (len(prefix) + len(shared)) - len(shared) - (0 if cached else len(prefix))
        return rows

    def _decode(self, entries: list[tuple[int, int, int | tuple[int, ...], bool]]) -> None:
        """Decode (token, position, sequence or sequences, wants_logits) entries as one batch."""
        lib, b = self._lib, self._bbatch
        for i, (token, pos, seq, logits) in enumerate(entries):
            b.token[i], b.pos[i], b.logits[i] = token, pos, logits
            if isinstance(seq, tuple):
                b.n_seq_id[i] = len(seq)
                for k, s in enumerate(seq):
                    b.seq_id[i][k] = s
            else:
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = seq
        b.n_tokens = len(entries)
        if lib.llama_decode(self._bctx, b) != 0:
            raise KgcError("llama.cpp failed to decode a batch (context full?); try a smaller --batch")

    def close(self) -> None:
        self._close_batch_context()
        self.llm.close()


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
