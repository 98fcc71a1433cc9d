"""`kgc-lite extract --ray-address local --actors 2`: a local Ray cluster with two model actors gives the same
records as a single process, and a killed Ray run resumes to the same file. Skipped only without Ray."""

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from kgc_lite.io import output as out

from .conftest import ROOT, run_cli

pytest.importorskip("ray.data")

DOCS = [
    ("a", "John Smith works for IBM in Armonk , New York . The mayor of Chicago , Richard Daley , spoke on "
          "Tuesday . Lee Harvey Oswald killed John F. Kennedy in Dallas ."),
    ("b", "Apple Inc. is based in Cupertino , California . Paris is the capital of France . Maria Lopez , an "
          "engineer at Siemens , lives in Munich ."),
    ("c", "Boeing , headquartered in Chicago , builds planes . Gandhi was assassinated by Nathuram Godse in New "
          "Delhi . Ann met Bob in Rome . Carl Zeiss met Dora in Jena ."),
    ("d", "Eve met Frank Ocean in LA . Tom Long lives in Bergen . Acme Corp. hired Jane Doe in Boston ."),
    ("e", "Mr. Smith went to Washington . Mrs. Jones stayed in Ohio . Bill Gates founded Microsoft in Albuquerque "
          ". Ada Lovelace worked with Charles Babbage in London ."),
    ("f", "Nadia Kim works for Globex in Osaka . Omar Haddad , a manager at Initech , lives in Lyon . Hooli is "
          "based in Austin , where Rosa Costa was born . The storm hit the coast of Florida on Monday ."),
]


def _files(tmp_path, copies=3):
    # Enough units (about 80) that the Ray run is still going when both actors have written records: with
    # fewer, a fast machine finished the whole run between two looks at the work file.
    docs = [(f"{i}{k}", t) for k in range(copies) for i, t in DOCS]
    half = len(docs) // 2
    first = tmp_path / "one.jsonl"
    first.write_bytes(b"".join(orjson.dumps({"id": i, "text": t}) + b"\n" for i, t in docs[:half]) + b"{bad\n")
    second = tmp_path / "two.jsonl"
    second.write_bytes(b"".join(orjson.dumps({"id": i, "text": t}) + b"\n" for i, t in docs[half:]))
    return [str(first), str(second)]


def _work_lines(work):
    """The work file's complete lines so far; none once the run has merged it away (or before it exists)."""
    try:
        data = work.read_bytes()
    except FileNotFoundError:
        return []
    return [orjson.loads(x) for x in data.splitlines() if x.endswith(b"}")]


def _args(files, dst, *extra):
    # --batch 1: each unit decoded alone, so a record does not depend on which actor or neighbours it had
    return ["extract", "--jsonl", *files, "--threads", "1", "--batch", "1", "--on-error", "skip", "-o", str(dst),
            *extra]


# Generous limits: a fresh clone's suite on a busy 2-core machine (issue 37) took more than 90 s to start the
# cluster and both actors, so the run was killed before the second actor had written; nothing here waits for
# a limit unless something is wrong.
START_LIMIT = 400
RESUME_LIMIT = 900


@pytest.mark.slow
def test_two_actors_match_one_process_and_resume(tmp_path):
    files = _files(tmp_path)
    plain = tmp_path / "plain.jsonl"
    result = run_cli(*_args(files, plain), timeout=RESUME_LIMIT)
    assert result.returncode == 0, result.stderr
    total = plain.read_bytes().count(b"\n")
    assert total >= 60

    # A Ray run killed as soon as its work file holds records from both actors.
    target = tmp_path / "ray.jsonl"
    work = out.work_path(target)
    ray_args = _args(files, target, "--ray-address", "local", "--actors", "2")
    proc = subprocess.Popen([sys.executable, "-m", "kgc_lite", *ray_args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + START_LIMIT
    while proc.poll() is None and time.monotonic() < deadline:
        if len({line["by"] for line in _work_lines(work)}) == 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the Ray run ended before both actors had written: " + proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    proc.wait()
    proc.stderr.close()
    lines = [orjson.loads(x) for x in work.read_bytes().splitlines() if x.endswith(b"}")]
    assert 0 < len(lines) < total and not target.exists()
    assert len({line["by"] for line in lines}) == 2, "one actor did all the work"

    result = run_cli(*ray_args, "--resume", timeout=RESUME_LIMIT)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr and not work.exists()
    # Same records, byte for byte, in the same (input) order.
    assert target.read_bytes() == plain.read_bytes()


def test_ray_needs_an_output_file_and_files(tmp_path):
    result = run_cli("extract", "--ray-address", "local", input=b"x")
    assert result.returncode == 2 and "-o FILE" in result.stderr.decode()
    result = run_cli("extract", "--ray-address", "local", "-o", str(tmp_path / "o.jsonl"), input=b"x")
    assert result.returncode == 2 and "not stdin" in result.stderr.decode()
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.slow
def test_a_pool_that_claims_every_cpu_is_refused():
    import ray

    from kgc_lite.errors import KgcError
    from kgc_lite.extract.ray import connect
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(KgcError, match="claim all 2 CPUs"):
            connect("local", actors=2, threads=1)
        connect("local", actors=1, threads=1)
    finally:
        ray.shutdown()
