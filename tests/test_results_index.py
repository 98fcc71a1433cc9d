"""results/README.md is the page scripts/results_index.py writes from the files in results/: a results file added
without regenerating the index fails here, and the generator itself notices a stale page."""

import shutil
import subprocess
import sys

from .conftest import ROOT

SCRIPT = ROOT / "scripts" / "results_index.py"


def test_the_results_index_is_current():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_stale_index_is_caught_and_rewritten(tmp_path):
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, copy / "scripts")
    shutil.copytree(ROOT / "results", copy / "results")
    page = copy / "results" / "README.md"
    page.write_text(page.read_text().replace("| ", "|  ", 1))
    script = [sys.executable, str(copy / "scripts" / "results_index.py")]
    assert subprocess.run([*script, "--check"], capture_output=True).returncode == 1
    assert subprocess.run(script, capture_output=True).returncode == 0
    assert page.read_text() == (ROOT / "results" / "README.md").read_text()
