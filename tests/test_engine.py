"""The llama.cpp engine on the CPU it runs on: llama.cpp's AMX weight buffers crash llama-cpp-python 0.3.36 on
Intel CPUs with AMX (a segmentation fault on the first batch of more than one token), so kgc-lite loads models
without them there."""
import subprocess
import sys

import llama_cpp
import pytest

from kgc_lite.errors import KgcError
from kgc_lite.runtime.engine import amx_buffers_off


def test_extra_buffers_follow_the_cpu_unless_overridden(monkeypatch):
    has_amx = b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()
    monkeypatch.delenv("KGC_LITE_EXTRA_BUFFERS", raising=False)
    assert amx_buffers_off() == has_amx
    monkeypatch.setenv("KGC_LITE_EXTRA_BUFFERS", "0")
    assert amx_buffers_off()
    monkeypatch.setenv("KGC_LITE_EXTRA_BUFFERS", "1")
    assert not amx_buffers_off()


def test_a_prompt_of_many_tokens_evaluates_and_the_defaults_are_restored(default_model):
    """In a child process, so that a crash is this test's failure rather than the end of the test run."""
    code = f"""
import numpy as np
from llama_cpp import llama as module
from kgc_lite.runtime.engine import Engine
default = module.llama_cpp.llama_model_default_params
eng = Engine({str(default_model.path)!r}, n_ctx=256, n_threads=2)
logits = eng.next_logits(eng.tokenize("The capital of France is the city of", bos=True))
assert module.llama_cpp.llama_model_default_params is default
assert np.isfinite(logits).all() and logits.shape == (eng.n_vocab,)
print(eng.detokenize([int(logits.argmax())]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr.decode()[-2000:])
    assert b"Paris" in r.stdout, r.stdout


def test_fork_logprobs_are_the_one_by_one_log_softmax(engine):
    """Teacher-forced scores of several continuations in one batched call equal what one-token-a-call
    evaluation gives (log-softmax of the next token), up to the rounding of batched arithmetic."""
    import numpy as np
    prefix = engine.tokenize("<|im_start|>user\nWhere is Paris?<|im_end|>\n<|im_start|>assistant\n", bos=True)
    shared = engine.tokenize("Paris is in", special=False)
    tails = [[shared[-1]] + engine.tokenize(" France.", special=False),
             [shared[-1]] + engine.tokenize(" Texas, USA.", special=False)]
    got = engine.fork_logprobs(prefix, shared[:-1], tails)
    for tail, scores in zip(tails, got):
        assert len(scores) == len(tail) - 1
        want = []
        for j in range(1, len(tail)):
            row = engine.next_logits(prefix + shared[:-1] + tail[:j]).astype(np.float64)
            want.append(row[tail[j]] - row.max() - np.log(np.exp(row - row.max()).sum()))
        assert scores == pytest.approx(want, abs=0.05)
    assert sum(got[0]) > sum(got[1])   # the model knows where Paris is
    with pytest.raises(KgcError, match="two to be scored"):
        engine.fork_logprobs(prefix, shared, [[shared[-1]]])
