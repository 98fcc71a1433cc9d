"""The progress bar: on stderr only, with a total (so an ETA) for files, and never on stdout."""

import orjson

from kgc_lite.cli import Progress

from .conftest import run_cli


def test_forced_bar_is_on_stderr_with_a_total_and_stdout_stays_json(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("Ann Lee works for Acme in Boston.\nBob lives in Paris.\nCarl met Dora in Rome.\n")
    result = run_cli("extract", str(doc), "--threads", "1", "--batch", "1", "--progress")
    assert result.returncode == 0, result.stderr
    assert [orjson.loads(x)["chunk"] for x in result.stdout.splitlines()] == [0, 1, 2]
    err = result.stderr.decode()
    assert "3/3" in err and "units/s" in err


def test_no_bar_unless_asked_when_stderr_is_not_a_terminal(tmp_path):
    result = run_cli("extract", "--threads", "1", input=b"Bob lives in Paris.")
    assert result.returncode == 0 and result.stderr == b""


def test_progress_counts_from_where_a_resumed_run_starts(capsys):
    bar = Progress("units", enabled=True, initial=5)
    bar.set_total(8)
    for _ in range(3):
        bar.tick()
    bar.done()
    err = capsys.readouterr().err
    assert "8/8" in err and bar.count == 8
