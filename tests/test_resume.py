"""`kgc-lite extract -o FILE --resume`: killed with SIGKILL at random points and resumed, the file ends up
byte for byte what an uninterrupted run writes; torn lines are repaired; a different run is refused."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import orjson
import pytest

from kgc_lite.errors import KgcError
from kgc_lite.io import output as out

from .conftest import ROOT, run_cli

DOCS = [
    ("r1", "John Smith works for IBM in Armonk , New York . The mayor of Chicago , Richard Daley , spoke on "
           "Tuesday . Lee Harvey Oswald killed John F. Kennedy in Dallas ."),
    ("r2", "Apple Inc. is based in Cupertino , California . Paris is the capital of France . Maria Lopez , an "
           "engineer at Siemens , lives in Munich . The storm hit the coast of Florida on Monday ."),
    ("r3", "Boeing , headquartered in Chicago , builds planes . Gandhi was assassinated by Nathuram Godse in New "
           "Delhi . Ann met Bob in Rome . Carl Zeiss met Dora in Jena ."),
    ("r4", "Eve met Frank Ocean in LA . Nothing to see here . Tom Long lives in Bergen . Acme Corp. hired Jane "
           "Doe in Boston ."),
    # the same id again, other text: resume counts keys, so the second r2's units are not taken as done
    ("r2", "Mr. Smith went to Washington . Mrs. Jones stayed in Ohio . Bill Gates founded Microsoft ."),
]


def _input(tmp_path):
    lines = [orjson.dumps({"id": i, "text": t}) for i, t in DOCS]
    lines.insert(2, b"{not json")  # an error record, which a resumed run must not write twice
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _args(src, dst, *extra):
    return ["extract", "--jsonl", str(src), "--threads", "1", "--on-error", "skip", "-o", str(dst), *extra]


def _lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _kill_and_resume(src, target, args, kills, rng):
    """Start `args` on target, SIGKILL it once the file holds `at` lines (plus a jitter), for each `at`."""
    killed = 0
    for at in kills:
        proc = subprocess.Popen([sys.executable, "-m", "kgc_lite", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _lines(target) < at and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        proc.stderr.close()
    return killed


def _structure(path):
    """What resume itself decides: which records, in which order, for which text; not what the model said."""
    return [(r["id"], r.get("chunk"), r.get("start"), r.get("end"), r.get("text"), r.get("error"))
            for r in map(orjson.loads, path.read_bytes().splitlines())]


@pytest.mark.slow
def test_killed_and_resumed_equals_uninterrupted(tmp_path):
    """--batch 1 decodes each unit alone, so a unit's record does not depend on its neighbours: the resumed
    file must be byte for byte the uninterrupted one."""
    src = _input(tmp_path)
    reference = tmp_path / "ref.jsonl"
    result = run_cli(*_args(src, reference, "--batch", "1"))
    assert result.returncode == 0, result.stderr
    total = _lines(reference)
    assert 15 <= total <= 25

    target = tmp_path / "out.jsonl"
    rng = random.Random(13)
    kills = sorted(rng.sample(range(total - 1), 5))  # kill once the file holds this many lines, plus a jitter
    killed = _kill_and_resume(src, target, _args(src, target, "--batch", "1", "--resume"), kills, rng)
    assert killed >= 4, "the runs finished before they could be killed: the test no longer tests anything"
    assert _lines(target) < total
    result = run_cli(*_args(src, target, "--batch", "1", "--resume"))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == reference.read_bytes()
    keys = [out.record_key(orjson.loads(x)) for x in target.read_bytes().splitlines()]
    assert keys.count(("r2", 0)) == 2 and len([k for k in keys if k[1] is None]) == 1


@pytest.mark.slow
def test_killed_and_resumed_at_the_default_batch_keeps_every_record_once(tmp_path):
    """With continuous batching (the default --batch) units share llama.cpp calls with whichever units are in
    flight, and batched products round differently, so a resumed unit's confidences (rarely its triplets) may
    differ from an uninterrupted run's; the records themselves, their order and their texts may not."""
    src = _input(tmp_path)
    reference = tmp_path / "ref.jsonl"
    assert run_cli(*_args(src, reference)).returncode == 0
    total = _lines(reference)
    target = tmp_path / "out.jsonl"
    rng = random.Random(7)
    killed = _kill_and_resume(src, target, _args(src, target, "--resume"), sorted(rng.sample(range(total - 1), 3)),
                              rng)
    assert killed >= 2
    result = run_cli(*_args(src, target, "--resume"))
    assert result.returncode == 0, result.stderr
    assert _structure(target) == _structure(reference)


def test_without_resume_an_existing_output_is_refused(tmp_path):
    src = _input(tmp_path)
    target = tmp_path / "out.jsonl"
    target.write_bytes(b'{"id": "x", "chunk": 0}\n')
    result = run_cli(*_args(src, target))
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "pass --resume" in err and "Traceback" not in err
    assert target.read_bytes() == b'{"id": "x", "chunk": 0}\n'


def test_resume_with_other_options_is_refused_naming_them(tmp_path):
    src = _input(tmp_path)
    target = tmp_path / "out.jsonl"
    first = b'{"id":"r1","chunk":0,"start":0,"end":4,"text":"John","triplets":[]}\n'
    fp = _fingerprint(src)
    out.meta_path(target).write_bytes(orjson.dumps({"kgc_lite_output": 1, "fingerprint": fp}))
    target.write_bytes(first)
    result = run_cli(*_args(src, target, "--resume", "--max-chars", "300", "--schema", "ade"))
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("kgc-lite: error: cannot resume")
    assert "max_chars (was 1200, now 300)" in err and "schema (was" in err and "schema_sha256" in err
    assert target.read_bytes() == first


def test_resume_refuses_an_edited_input(tmp_path):
    src = _input(tmp_path)
    target = tmp_path / "out.jsonl"
    out.meta_path(target).write_bytes(orjson.dumps({"kgc_lite_output": 1, "fingerprint": _fingerprint(src)}))
    target.write_bytes(b'{"id":"r1","chunk":0,"start":0,"end":4,"text":"John","triplets":[]}\n')
    src.write_bytes(src.read_bytes() + b'{"id": "r9", "text": "More text ."}\n')
    result = run_cli(*_args(src, target, "--resume"))
    assert result.returncode == 1 and "inputs (was" in result.stderr.decode()


def _fingerprint(src):
    from kgc_lite.extract.extractor import ExtractOptions
    from kgc_lite.models.resolve import resolve
    from kgc_lite.schema import load_schema
    resolved = resolve(None)
    options = ExtractOptions(style=resolved.spec.prompt_style, icl=resolved.spec.icl)
    return out.fingerprint(model_sha256=resolved.sha256, model_name=resolved.spec.name,
                           schema=load_schema("conll04"), options=options, max_chars=1200, split=True, jsonl=True,
                           batch=1, gpu=False, sources=[str(src)])


def test_fingerprint_differs_for_each_option_that_changes_records():
    from kgc_lite.extract.extractor import ExtractOptions
    from kgc_lite.schema import load_schema
    base = dict(model_sha256="a" * 64, model_name="m", schema=load_schema("conll04"), options=ExtractOptions(),
                max_chars=1200, split=True, jsonl=False, batch=1, gpu=False, sources=["-"])
    ref = out.fingerprint(**base)
    assert out.fingerprint(**base) == ref
    for change in [dict(model_sha256="b" * 64), dict(schema=load_schema("ade")), dict(max_chars=500),
                   dict(split=False), dict(jsonl=True), dict(batch=8), dict(gpu=True), dict(sources=["x.txt"]),
                   dict(options=ExtractOptions(style="code")), dict(options=ExtractOptions(icl=0)),
                   dict(options=ExtractOptions(rationale=True)), dict(options=ExtractOptions(entities="free"))]:
        assert out.fingerprint_diff(ref, out.fingerprint(**{**base, **change})), change


@pytest.mark.parametrize("content, fixed, result", [
    (b'{"id":"a","chunk":0}\n{"id":"a","chunk":1}\n', None, b'{"id":"a","chunk":0}\n{"id":"a","chunk":1}\n'),
    (b'{"id":"a","chunk":0}\n{"id":"a","chunk":1}', "completed", b'{"id":"a","chunk":0}\n{"id":"a","chunk":1}\n'),
    (b'{"id":"a","chunk":0}\n{"id":"a","ch', "cut", b'{"id":"a","chunk":0}\n'),
    (b'{"id":"a","chunk":0}\n{"id":"a","chunk":1,"text":"x"', "cut", b'{"id":"a","chunk":0}\n'),
    (b'{"id":"a","ch', "cut", b""),
    (b"", None, b""),
])
def test_torn_last_line_is_completed_or_cut(tmp_path, content, fixed, result):
    path = tmp_path / "out.jsonl"
    path.write_bytes(content)
    assert out.repair_tail(path) == fixed
    assert path.read_bytes() == result


def test_torn_line_longer_than_a_read_block(tmp_path):
    path = tmp_path / "out.jsonl"
    whole = orjson.dumps({"id": "a", "chunk": 0, "text": "x" * 200_000})
    path.write_bytes(b'{"id":"z","chunk":0}\n' + whole)
    assert out.repair_tail(path) == "completed"
    assert path.read_bytes().endswith(whole + b"\n")
    path.write_bytes(b'{"id":"z","chunk":0}\n' + whole[:-3])
    assert out.repair_tail(path) == "cut"
    assert path.read_bytes() == b'{"id":"z","chunk":0}\n'


def test_a_bad_line_before_the_last_is_an_error(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id":"a","chunk":0}\ngarbage\n{"id":"a","chunk":1}\n')
    with pytest.raises(KgcError, match=r"out.jsonl:2: not an output record"):
        out.read_keys(path)


def test_skipper_counts_repeated_keys():
    from kgc_lite.io.inputs import BadRecord, Unit
    skip = out.Skipper(Counter({("d", 0): 1, ("bad", None): 1}))
    assert skip(Unit("d", 0, 0, 1, "x")) and not skip(Unit("d", 0, 0, 1, "x"))  # the second "d" is new
    assert not skip(Unit("d", 1, 0, 1, "x"))
    assert skip(BadRecord("bad", "e")) and not skip(BadRecord("bad", "e"))


def test_interrupted_ray_merge_is_finished_or_undone(tmp_path):
    target = tmp_path / "out.jsonl"
    tmp, work = out.merge_tmp_path(target), out.work_path(target)
    target.write_bytes(b"old\n")
    tmp.write_bytes(b"merged\n")
    work.write_bytes(b"{}\n")
    out.finish_merge(target)  # tmp beside a work file: unfinished, dropped
    assert not tmp.exists() and target.read_bytes() == b"old\n"
    tmp.write_bytes(b"merged\n")
    work.unlink()
    out.finish_merge(target)  # tmp alone: complete, becomes the output
    assert not tmp.exists() and target.read_bytes() == b"merged\n"


def test_unfinished_ray_run_is_not_resumed_without_ray(tmp_path):
    target = tmp_path / "out.jsonl"
    out.work_path(target).write_bytes(b'{"order":[0,0],"record":{"id":"a","chunk":0}}\n')
    with pytest.raises(KgcError, match="unfinished --ray run"):
        out.prepare(target, {"x": 1}, resume=True)


def test_output_folder_is_made_and_a_path_that_cannot_be_one_is_one_line(tmp_path):
    """-o in a folder not made yet works, as eval -o and export -o do; a path under a file is one error line."""
    target = tmp_path / "new" / "deeper" / "out.jsonl"
    assert out.prepare(target, {"x": 1}, resume=False) == Counter()
    assert out.meta_path(target).exists()
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    result = run_cli("extract", "-o", str(blocker / "out.jsonl"), input=b"Ann lives in Rome .")
    err = result.stderr.decode()
    assert result.returncode == 1 and err.count("\n") == 1 and "cannot make its folder" in err, err
