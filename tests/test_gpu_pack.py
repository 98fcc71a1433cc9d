"""scripts/gpu_pack.py: the GPU job's base, data and wheels cut into parts that each fit one device call, and put
back together there, part by part, as the consecutive calls would."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu_pack.py"
DATA_FILES = {"kgc/conll04/train.jsonl": b'{"text": "a"}\n', "fewrel/all.json": b"{}",
              "fewrel/relations.json": b"[]", "fewrel/zero_rte/unseen_10_seed_0/labels.json": b'{"test": []}',
              "wikizsl/all.json": b"{}", "wikizsl/relations.json": b"[]", "semeval2010/train.jsonl": b"{}\n"}


def gpu_pack(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def packed(tmp_path):
    base = tmp_path / "base.gguf"
    base.write_bytes(os.urandom(200_000))          # random bytes: nothing to compress, like a quantized GGUF
    data = tmp_path / "data"
    for rel, content in DATA_FILES.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(content)
    (data / "fewrel/zero_rte/unseen_10_seed_0/test.json").write_bytes(b"held out")
    carry = tmp_path / "carry"
    r = gpu_pack("pack", "--base", base, "--data-dir", data, "--no-wheels", "--part-bytes", 64_000, "--carry", carry)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((carry / "manifest.json").read_text())
    return base, data, carry, manifest


def test_the_bundle_travels_in_parts_and_comes_back_whole(packed, tmp_path):
    base, data, carry, manifest = packed
    n = len(manifest["parts"])
    assert n == 4 and all(p["bytes"] <= 64_000 for p in manifest["parts"])
    root = tmp_path / "device" / "kgc"
    for k in range(1, n):
        r = gpu_pack("unpack", k, "--root", root, "--carry", carry)
        assert r.returncode == 0 and f"{k} of {n}" in r.stdout and not root.exists()
    r = gpu_pack("unpack", n, "--root", root, "--carry", carry)
    assert r.returncode == 0, r.stderr
    assert (root / "base.gguf").read_bytes() == base.read_bytes()
    for rel, content in DATA_FILES.items():
        assert (root / "data" / rel).read_bytes() == content
    assert not (root / "data/fewrel/zero_rte/unseen_10_seed_0/test.json").exists()   # held-out text stays here
    env = (root / "env.sh").read_text()
    assert f"export BASE={root / 'base.gguf'}" in env and f"export KGC_LITE_DATA={root / 'data'}" in env
    r = subprocess.run(["sh", "-c", f". {root / 'env.sh'} && kgc-lite --help"], capture_output=True, text=True)
    assert r.returncode == 0 and "extract" in r.stdout


def test_a_missing_or_damaged_part_is_one_clear_line(packed, tmp_path):
    _, _, carry, manifest = packed
    n = len(manifest["parts"])
    root = tmp_path / "fresh" / "kgc"
    r = gpu_pack("unpack", n, "--root", root, "--carry", carry)       # the machine went back after part 1
    assert r.returncode == 1 and "part-01" in r.stderr.strip().splitlines()[-1] and "Traceback" not in r.stderr
    (carry / "part-02").write_bytes(b"x" + (carry / "part-02").read_bytes()[1:])
    r = gpu_pack("unpack", 2, "--root", root, "--carry", carry)
    assert r.returncode == 1 and r.stderr.strip() == "gpu_pack: error: part-02 arrived damaged (sha256 differs)"


def test_park_takes_the_weights_a_job_does_not_read_out_of_the_tree_and_unpark_puts_them_back(tmp_path):
    """The tracked adapters outgrow a device call (64 MiB with the tree): park moves all but the kept ones into
    the git-ignored .parked/, so they do not travel; unpark restores every one, byte for byte."""
    repo = tmp_path / "repo"
    weights = {"adapters/a/adapter_model.safetensors": os.urandom(300_000),
               "campaign/b/adapter_model.safetensors": os.urandom(200_000),
               "campaign/c/adapter_model.safetensors": os.urandom(100_000)}
    for rel, content in {**weights, "campaign/b/campaign.json": b"{}", ".gitignore": b"/.parked/\n"}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(content)
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True, check=True).stdout
    git("init", "-q")
    git("add", "-A")
    status = git("status", "--porcelain")
    r = gpu_pack("park", "--repo", repo, "--keep", "campaign/b")
    assert r.returncode == 0, r.stderr
    assert "parked 2 weight files" in r.stdout
    assert (repo / "campaign/b/adapter_model.safetensors").is_file()             # the job's own stays
    assert not (repo / "adapters/a/adapter_model.safetensors").exists()
    assert "adapters/a" not in git("ls-files", "--others", "--exclude-standard")   # nothing parked travels
    r = gpu_pack("unpark", "--repo", repo)
    assert r.returncode == 0 and "put back 2 weight files" in r.stdout, r.stderr
    for rel, content in weights.items():
        assert (repo / rel).read_bytes() == content
    assert git("status", "--porcelain") == status
    r = gpu_pack("park", "--repo", repo, "--keep", "campaign/nope")
    assert r.returncode == 1 and r.stderr.strip().startswith("gpu_pack: error: --keep campaign/nope")
