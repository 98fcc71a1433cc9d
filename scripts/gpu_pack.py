#!/usr/bin/env python3
"""Carry what a GPU lease needs but cannot fetch, in parts small enough for the device tool.

The device machine has no network. A `run` call carries the working tree (about 42 MiB of tracked files) plus
the ignored paths it names, 64 MiB in all, and the embedded base model alone is 94 MiB. So the base GGUF, the
training data the GPU job reads, and the wheels the device image lacks are bundled here into one file, cut
into parts that fit beside the tree, and sent over consecutive calls. Files written outside the repo copy stay
on the machine while it is warm (30 s after a call), so each call stores its part under /tmp/kgc-carry, and
the call that brings the last part checks the whole bundle against its sha256 and unpacks it.

Here (once per session that has a device; rerun after a commit, since the tree's size sets the part size):

    python3 scripts/gpu_pack.py pack            # .carry/part-01 ... and .carry/manifest.json; prints the calls

There, call K of N (carry .carry/manifest.json and .carry/part-K):

    python3 scripts/gpu_pack.py unpack K        # K < N: stores the part; K = N: assembles and unpacks
    . /tmp/kgc/env.sh                           # after the last: BASE, KGC_LITE_DATA, PYTHONPATH, kgc-lite on PATH

Between the calls nothing else may run long: the machine goes back 30 s after a call ends, and with it the
parts stored so far (the unpack then says which parts are missing).

The tracked adapter weights alone outgrow a call (about 120 MiB: every shipped adapter and campaign snapshot).
Before packing, park the ones the job does not read, and put them back after the last call:

    python3 scripts/gpu_pack.py park --keep campaign/qwen05-kg   # the rest into .parked/ (git-ignored)
    python3 scripts/gpu_pack.py unpark                           # every parked file back where it was
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
CALL_LIMIT = 64 * MIB          # the device tool: working tree + carried paths, per call
MARGIN = 3 * MIB               # for files the tree gains before the calls (predictions, notes)
# What the GPU job reads from the data folder: the training sets and the held-out split's labels (never a
# zero-shot test file: held-out sentences do not travel).
DATA_FILES = ("kgc", "fewrel/all.json", "fewrel/relations.json", "fewrel/zero_rte/unseen_10_seed_0/labels.json",
              "wikizsl/all.json", "wikizsl/relations.json", "semeval2010/train.jsonl")
# Python 3.12 wheels the device image lacks (its package list: ../.library/device/KINDS.md): transformers'
# GGUF reader, and kgc-lite's own needs beyond typer and numpy.
WHEELS = ("gguf", "orjson", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def fail(msg: str) -> None:
    sys.exit(f"gpu_pack: error: {msg}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def travelling_bytes(repo: Path) -> int:
    """What every call carries anyway: tracked files and untracked files git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                         capture_output=True, check=True).stdout
    names = {n for n in out.decode().split("\0") if n}
    return sum((repo / n).stat().st_size for n in names if (repo / n).is_file())


PARKED = ".parked"


def tracked_weights(repo: Path) -> list[str]:
    """Tracked adapter weights, the bulk of the tree."""
    out = subprocess.run(["git", "ls-files", "-z", "--", "*.safetensors"], cwd=repo, capture_output=True,
                         check=True).stdout
    return sorted(n for n in out.decode().split("\0") if n)


def park(args) -> None:
    repo = Path(args.repo)
    keep = [Path(k).as_posix().rstrip("/") for k in args.keep]
    for k in keep:
        if not (repo / k).exists():
            fail(f"--keep {k}: no such file or folder in {repo}")
    before = travelling_bytes(repo)
    moved = 0
    for rel in tracked_weights(repo):
        if any(rel == k or rel.startswith(k + "/") for k in keep) or not (repo / rel).is_file():
            continue
        dest = repo / PARKED / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).rename(dest)
        moved += 1
    after = travelling_bytes(repo)
    print(f"parked {moved} weight files in {PARKED}/: the tree carries {after / MIB:.1f} MiB (was "
          f"{before / MIB:.1f}); `gpu_pack.py unpark` puts them back")


def unpark(args) -> None:
    repo = Path(args.repo)
    parked = repo / PARKED
    files = sorted(p for p in parked.rglob("*") if p.is_file()) if parked.is_dir() else []
    for p in files:
        dest = repo / p.relative_to(parked)
        if dest.exists():
            fail(f"{dest} exists and {p} is parked: which one is right? (compare, then remove one)")
        dest.parent.mkdir(parents=True, exist_ok=True)
        p.rename(dest)
    missing = [rel for rel in tracked_weights(repo) if not (repo / rel).is_file()]
    print(f"put back {len(files)} weight files" + (f"; still missing: {', '.join(missing)}" if missing else ""))
    if missing:
        sys.exit(1)


def download_wheels(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("-")[0].lower().replace("_", "-") for p in folder.glob("*.whl")}
    missing = [w for w in WHEELS if w not in have]
    if missing:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
               "3.12", "--implementation", "cp", "-d", str(folder)]
        for p in PLATFORMS:
            cmd += ["--platform", p]
        if subprocess.run(cmd + missing).returncode:
            fail(f"pip download of {', '.join(missing)} failed (it needs the package index)")
    return sorted(p for p in folder.glob("*.whl") if p.name.split("-")[0].lower().replace("_", "-") in WHEELS)


def data_tar(data_dir: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", preset=6) as tar:
        for rel in DATA_FILES:
            path = data_dir / rel
            if not path.exists():
                fail(f"{path} is missing (is {data_dir} the shared data folder?)")
            tar.add(path, arcname=f"data/{rel}")
    return buf.getvalue()


def bundle(base: Path, data: bytes, wheels: list[Path]) -> bytes:
    """One uncompressed tar: the base as it is (a quantized GGUF does not compress), the data already xz'd."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(base, arcname="base.gguf")
        info = tarfile.TarInfo("data.tar.xz")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for w in wheels:
            tar.add(w, arcname=f"wheels/{w.name}")
    return buf.getvalue()


def pack(args) -> None:
    if args.base:
        base = Path(args.base)
        base_ref = str(base)
    else:
        from kgc_lite.models.registry import spec_for
        from kgc_lite.models.resolve import resolve
        spec = spec_for(None)
        base_ref = spec.base or spec.name
        base = resolve(base_ref).path
    if not base.is_file():
        fail(f"base model {base} not found")
    base = base.resolve()
    data_dir = Path(args.data_dir or os.environ.get("KGC_LITE_DATA") or REPO.parent / "shared" / "data")
    wheels = [] if args.no_wheels else download_wheels(REPO / ".whl")
    print(f"bundling {base} ({base.stat().st_size / MIB:.1f} MiB), data from {data_dir}, {len(wheels)} wheels",
          file=sys.stderr)
    blob = bundle(base, data_tar(data_dir), wheels)
    room = CALL_LIMIT - travelling_bytes(REPO) - MARGIN
    part_size = args.part_bytes or room
    if not args.part_bytes and room < MIB:
        fail(f"the working tree leaves {room / MIB:.1f} MiB of a call's 64 MiB: too little for parts (first "
             "`gpu_pack.py park --keep ADAPTER_FOLDER`: the adapters the job does not read, out of the tree)")
    out = Path(args.carry)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*"):
        old.unlink()
    parts = []
    for k, start in enumerate(range(0, len(blob), part_size), 1):
        chunk = blob[start:start + part_size]
        name = f"part-{k:02d}"
        (out / name).write_bytes(chunk)
        parts.append({"name": name, "bytes": len(chunk), "sha256": sha256(chunk)})
    manifest = {"sha256": sha256(blob), "bytes": len(blob), "parts": parts, "part_bytes": part_size,
                "base": {"ref": base_ref, "file": base.name}, "data_files": list(DATA_FILES),
                "wheels": [w.name for w in wheels]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    n = len(parts)
    print(f"{len(blob) / MIB:.1f} MiB in {n} parts of at most {part_size / MIB:.1f} MiB in {out}")
    print("device calls, one after another (each within 30 s of the last):")
    for k in range(1, n + 1):
        tail = " && . /tmp/kgc/env.sh && <the job>" if k == n else ""
        print(f"  {k}. carry [.carry/manifest.json, .carry/part-{k:02d}]; "
              f"command: python3 scripts/gpu_pack.py unpack {k}{tail}")


def unpack(args) -> None:
    root = Path(args.root)
    stash = root.parent / (root.name + "-carry")
    carry = Path(args.carry)
    manifest_path = carry / "manifest.json"
    if not manifest_path.is_file():
        fail(f"{manifest_path} did not come: carry .carry/manifest.json in every call")
    manifest = json.loads(manifest_path.read_text())
    parts = manifest["parts"]
    if not 1 <= args.k <= len(parts):
        fail(f"part {args.k} of {len(parts)}?")
    part = parts[args.k - 1]
    src = carry / part["name"]
    if not src.is_file():
        fail(f"{src} did not come: carry .carry/{part['name']} in call {args.k}")
    data = src.read_bytes()
    if sha256(data) != part["sha256"]:
        fail(f"{part['name']} arrived damaged (sha256 differs)")
    stash.mkdir(parents=True, exist_ok=True)
    (stash / part["name"]).write_bytes(data)
    missing = [p["name"] for p in parts if not (stash / p["name"]).is_file()]
    if missing:
        print(f"stored {part['name']} ({len(parts) - len(missing)} of {len(parts)}); still to come: "
              f"{', '.join(missing)}")
        if args.k == len(parts):
            fail(f"the last part came but {', '.join(missing)} did not (the machine was given back between "
                 "calls?): send them again")
        return
    blob = b"".join((stash / p["name"]).read_bytes() for p in parts)
    if sha256(blob) != manifest["sha256"]:
        fail("the assembled bundle's sha256 differs from the manifest's (parts from two packs?)")
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        tar.extractall(root, filter="data")
    with tarfile.open(root / "data.tar.xz", mode="r:xz") as tar:
        tar.extractall(root, filter="data")
    (root / "data.tar.xz").unlink()
    site = root / "site"
    wheels = sorted((root / "wheels").glob("*.whl")) if (root / "wheels").is_dir() else []
    if wheels and not args.no_install:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                            "--target", str(site), *map(str, wheels)])
        if r.returncode:
            fail("installing the carried wheels failed")
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "kgc-lite"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m kgc_lite "$@"\n')
    launcher.chmod(0o755)
    (root / "env.sh").write_text(
        f"export BASE={root / 'base.gguf'}\nexport KGC_LITE_DATA={root / 'data'}\n"
        f"export PYTHONPATH={site}:{REPO}${{PYTHONPATH:+:$PYTHONPATH}}\nexport PATH={bin_dir}:$PATH\n")
    print(f"unpacked {manifest['bytes'] / MIB:.1f} MiB into {root}: base.gguf ({manifest['base']['ref']}), data/, "
          f"{len(wheels)} wheels; now: . {root / 'env.sh'}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="bundle and cut into .carry/part-NN (here)")
    p.add_argument("--base", help="a GGUF file (default: the registry default's base, as `kgc-lite train` uses)")
    p.add_argument("--data-dir", help="the shared data folder (default: $KGC_LITE_DATA or ../shared/data)")
    p.add_argument("--no-wheels", action="store_true", help="carry no wheels")
    p.add_argument("--part-bytes", type=int, help=argparse.SUPPRESS)  # tests: small parts
    u = sub.add_parser("unpack", help="store part K; the last one unpacks (there)")
    u.add_argument("k", type=int)
    u.add_argument("--root", default="/tmp/kgc", help="where to unpack (default /tmp/kgc; parts wait in ROOT-carry)")
    u.add_argument("--no-install", action="store_true",
                   help="leave the wheels uninstalled (a check on a machine other than the device)")
    for q in (p, u):
        q.add_argument("--carry", default=str(REPO / ".carry"), help="the parts' folder (default .carry/)")
    k = sub.add_parser("park", help="move the tracked adapter weights the job does not read into .parked/ (here)")
    k.add_argument("--keep", action="append", default=[], metavar="PATH",
                   help="a file or folder the job reads, left in place (repeat for more)")
    b = sub.add_parser("unpark", help="put every parked weight file back (here, after the last call)")
    for q in (k, b):
        q.add_argument("--repo", default=str(REPO), help=argparse.SUPPRESS)  # tests: a scratch repository
    args = ap.parse_args(argv)
    {"pack": pack, "unpack": unpack, "park": park, "unpark": unpark}[args.cmd](args)


if __name__ == "__main__":
    main()
