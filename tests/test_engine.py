"""The llama.cpp engine on the CPU it runs on: llama.cpp's AMX weight buffers crash llama-cpp-python 0.3.36 on
Intel CPUs with AMX (a segmentation fault on the first batch of more than one token), so kgc-lite loads models
without them there."""
import subprocess
import sys

import llama_cpp

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
