"""The library is the product and the CLI its skin: `kgc_lite.extract_records` gives the records `kgc-lite
extract` prints, with the same choice of one pass or two stages (kgc_lite/extract/pipeline.py)."""

import re

import orjson
import pytest

import kgc_lite
from kgc_lite.errors import KgcError

from .conftest import FIXTURES, ROOT, run_cli

TEXTS = [("a", "Marie Curie worked at the University of Paris."),
         ("b", "Ann Lee works for Acme Corp in Boston. She lives in Cambridge.")]


def _cli(*args):
    stdin = b"".join(orjson.dumps({"id": i, "text": t}) + b"\n" for i, t in TEXTS)
    proc = run_cli("extract", "--jsonl", "--threads", "2", *args, input=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return [orjson.loads(line) for line in proc.stdout.splitlines()]


def test_extract_records_is_what_the_cli_prints():
    records = list(kgc_lite.extract_records(TEXTS, threads=2))
    assert [(r["id"], r["chunk"]) for r in records] == [("a", 0), ("b", 0), ("b", 1)]
    assert any(t["relation"] == "Work_for" for t in records[0]["triplets"])
    assert records == _cli()


@pytest.mark.slow
def test_a_new_schema_takes_two_stages_in_both():
    """The railways schema is not one the default model was trained on: both go to two stages."""
    schema = str(ROOT / "examples" / "railways" / "railways.toml")
    assert list(kgc_lite.extract_records(TEXTS, schema=schema, threads=2)) == _cli("--schema", schema)


def test_plain_strings_are_numbered_and_bad_choices_are_refused():
    (record,) = kgc_lite.extract_records(["Ann Lee works for Acme Corp."], split=False)
    assert record["id"] == "0" and record["text"] == "Ann Lee works for Acme Corp."
    with pytest.raises(KgcError, match="drop model"):
        next(kgc_lite.extract_records(["x"], model="smollm2-135m-kg", two_stage=True))
    with pytest.raises(KgcError, match="no-such-schema"):
        next(kgc_lite.extract_records(["x"], schema=str(FIXTURES / "no-such-schema.toml")))


def test_the_readmes_python_example_runs(capsys):
    """The README's library example, run as written."""
    readme = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(import kgc_lite\n.*?)```", readme, re.S)
    exec(compile(snippet, "README.md", "exec"), {})
    assert "Marie Curie Work_for University of Paris" in capsys.readouterr().out
