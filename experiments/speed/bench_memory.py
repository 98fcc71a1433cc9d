#!/usr/bin/env python3
"""Does `kgc-lite extract` run in constant memory? Feed it a long generated stream on stdin and read its
memory from the outside (/proc/PID/status: VmRSS now, VmHWM the peak so far) when 1 record has come out
(the model is loaded), and at 10%, 50% and 100% of the stream's records.

    python3 experiments/speed/bench_memory.py --sentences 1500 --threads 1            # plain text on stdin
    python3 experiments/speed/bench_memory.py --sentences 1500 --threads 1 --jsonl    # one JSONL record per sentence

The text is made of varied sentences (people, organisations, places and relations drawn with a fixed seed),
one per line, so that every record is a new input, not a repeat the engine could serve from a cache.
Extra arguments after `--` go to `kgc-lite extract` unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

FIRST = ["Ann", "Bob", "Carla", "Deepak", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena",
         "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara"]
LAST = ["Smith", "Garcia", "Okafor", "Larsen", "Nakamura", "Rossi", "Haddad", "Novak", "Kim", "Silva", "Meyer",
        "Dubois", "Kowalski", "Ibrahim", "Jensen", "Moreau", "Costa", "Petrov", "Walsh", "Schmidt"]
ORGS = ["Acme Corp", "Northwind", "Globex", "Initech", "Umbrella Labs", "Stark Industries", "Wayne Enterprises",
        "Hooli", "Vandelay Industries", "Cyberdyne", "Tyrell", "Soylent", "Massive Dynamic", "Aperture Science"]
PLACES = ["Oslo", "Lagos", "Lima", "Osaka", "Turin", "Beirut", "Prague", "Busan", "Recife", "Hamburg", "Lyon",
          "Krakow", "Aarhus", "Nantes", "Porto", "Sofia", "Galway", "Dresden", "Boston", "Denver", "Austin"]
TEMPLATES = [
    "{p} works for {o} in {c} .",
    "{p} , a manager at {o} , lives in {c} .",
    "{o} is based in {c} , where {p} was born .",
    "{p} met {q} at the {o} office in {c} on {d} .",
    "{q} said that {p} had left {o} for a job in {c} .",
    "The mayor of {c} , {p} , spoke about {o} on {d} .",
    "{p} was killed in {c} by {q} .",
    "{o} , headquartered in {c} , hired {p} and {q} .",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)

    def person() -> str:
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"

    return [rng.choice(TEMPLATES).format(p=person(), q=person(), o=rng.choice(ORGS), c=rng.choice(PLACES),
                                         d=rng.choice(DAYS)) for _ in range(n)]


def status(pid: int) -> dict[str, int] | None:
    """VmRSS and VmHWM in KiB, or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=1500, help="sentences in the stream (one record each)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads for kgc-lite")
    ap.add_argument("--jsonl", action="store_true", help="send JSONL records instead of plain text")
    ap.add_argument("--seed", type=int, default=0, help="seed of the generated text")
    ap.add_argument("--json", dest="json_out", help="also write the readings to this JSON file")
    ap.add_argument("--first-only", action="store_true", help="stop at the first record: how much memory the "
                    "input costs before any model work (plain text is read whole; JSONL is streamed)")
    ap.add_argument("extra", nargs="*", help="more `kgc-lite extract` arguments (after --)")
    args = ap.parse_args()

    texts = sentences(args.sentences, args.seed)
    if args.jsonl:
        stream = "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)).encode()
    else:
        stream = ("\n".join(texts) + "\n").encode()
    cmd = [sys.executable, "-m", "kgc_lite", "extract", "--threads", str(args.threads),
           *(["--jsonl"] if args.jsonl else []), *args.extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[2])

    def feed() -> None:
        try:
            proc.stdin.write(stream)
            proc.stdin.close()
        except BrokenPipeError:  # --first-only stopped it, or it failed (reported below)
            pass

    threading.Thread(target=feed, daemon=True).start()
    err: list[bytes] = []
    threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True).start()

    total = len(texts)
    marks = {1: "first record", max(1, total // 10): "10%", max(1, total // 2): "50%", total: "100%"}
    readings = []
    last = None
    count = 0
    for _ in proc.stdout:
        count += 1
        now = status(proc.pid)
        last = now or last
        if count in marks and now:
            readings.append({"at": marks[count], "records": count, "seconds": round(time.perf_counter() - start, 1),
                             "rss_mib": round(now["VmRSS"] / 1024, 1), "hwm_mib": round(now["VmHWM"] / 1024, 1)})
            r = readings[-1]
            print(f"{r['at']:>12}  {r['records']:6d} records  {r['seconds']:7.1f} s  VmRSS {r['rss_mib']:7.1f} MiB"
                  f"  VmHWM {r['hwm_mib']:7.1f} MiB", flush=True)
            if args.first_only:
                proc.kill()
                proc.wait()
                print(f"({len(stream) / 1e6:.1f} MB of input; stopped at the first record)")
                return
    _, code, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    exit_code = os.waitstatus_to_exitcode(code)
    if exit_code != 0 or count != total:
        sys.exit(f"kgc-lite exited {exit_code} after {count} of {total} records: "
                 f"{b''.join(err).decode(errors='replace')[-2000:]}")
    peak = usage.ru_maxrss / 1024
    print(f"{'exit':>12}  {count:6d} records  {seconds:7.1f} s  peak RSS (wait4) {peak:.1f} MiB  "
          f"({count / seconds:.2f} records/s, {len(stream) / 1e6:.2f} MB of input)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"command": cmd, "sentences": total, "input_bytes": len(stream),
                                                   "seconds": round(seconds, 1), "peak_rss_mib": round(peak, 1),
                                                   "readings": readings}, indent=2) + "\n")


if __name__ == "__main__":
    main()
