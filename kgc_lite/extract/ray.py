"""Scale-out: `kgc-lite extract --ray-address ADDR --actors N -o out.jsonl`, extraction on a Ray cluster.

Ray Data reads the input files (text or JSONL) itself, so they must be reachable from the workers (a shared
path, or a URI such as s3://... that pyarrow opens). Each file is split into units by the same code as a plain
run (inputs.read_stream, inputs.split_units), so ids, chunks, offsets and error messages are the same. Units
go to a pool of N actors (`map_batches`); each actor loads the model once and runs it with its CPUs as
threads. Records come back in whatever order the actors finish: they are appended, with their place in the
input, to a work file (crash-safe, like `-o`), and when every unit is done they are merged in input order into
out.jsonl, so the file equals a plain run's. --resume skips units by (id, chunk), as output.py does.

Needs the `[ray]` extra (ray[data]); imported only when --ray-address is given.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable

import orjson

from kgc_lite.errors import InputError, KgcError
from kgc_lite.io.output import (
    JsonlSink,
    finish_merge,
    fsync_dir,
    item_key,
    merge_tmp_path,
    read_lines,
    repair_tail,
    work_path,
)


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise KgcError("--ray-address needs Ray: pip install 'kgc-lite[ray]' (ray[data])") from None
    return ray


def _units_of_file(row: dict, *, sources: dict, jsonl: bool, max_chars: int, split: bool, done: list) -> list[dict]:
    """Ray Data flat_map: one input file's bytes → its unit rows, tagged with their place in the input.
    Units already written (`done`, (key, count) pairs) are dropped here, before any actor sees them."""
    from kgc_lite.io.inputs import BadRecord, read_stream, split_units

    index, source = sources[_norm(row["path"])]
    left = Counter({tuple(k): n for k, n in done})
    rows = []
    n = 0

    def add(item, **fields):
        nonlocal n
        key = item_key(item)
        if left[key] > 0:
            left[key] -= 1
        else:
            rows.append({"file": index, "n": n, "id": key[0], **fields})
        n += 1

    try:
        for doc in read_stream(io.BytesIO(row["bytes"]), source, jsonl):
            if isinstance(doc, BadRecord):
                add(doc, chunk=-1, start=0, end=0, text="", error=doc.error)
                continue
            for unit in split_units(doc, max_chars, split):
                add(unit, chunk=unit.chunk, start=unit.start, end=unit.end, text=unit.text, error="")
    except KgcError as exc:  # a whole-file problem: one error record for the file, as a plain run writes
        add(BadRecord(source, str(exc)), chunk=-1, start=0, end=0, text="", error=str(exc))
    return rows


def _norm(path: str) -> str:
    # Ray Data hands back local paths without a scheme and made absolute; match them that way.
    return os.path.abspath(path) if "://" not in path else path


class ExtractActor:
    """One model per actor, loaded once; turns batches of unit rows into work-file lines."""

    def __init__(self, model: str | None, model_sha256: str | None, schema, options, threads: int,
                 n_gpu_layers: int, n_ctx: int | None, batch: int, two_stage: dict | None = None):
        """two_stage: {"qa_model", "min_yes"} to run two_stage.TwoStage with `model` as its pair finder."""
        from kgc_lite.extract.pipeline import open_extractor
        from kgc_lite.models.resolve import resolve
        resolved = resolve(model)
        if model_sha256 and resolved.sha256 != model_sha256:
            raise KgcError(f"model {resolved.spec.name} on this worker has sha256 {resolved.sha256}, the driver's "
                           f"has {model_sha256}")
        two_stage = two_stage or {}
        self.extractor = open_extractor(schema, two_stage=bool(two_stage), resolved=resolved, options=options,
                                        qa_model=two_stage.get("qa_model"), min_yes=two_stage.get("min_yes", 0.0),
                                        n_ctx=n_ctx, n_threads=threads, n_gpu_layers=n_gpu_layers)
        self.batch = batch

    def __call__(self, rows: dict) -> dict:
        from kgc_lite.extract.extractor import unit_record
        from kgc_lite.io.inputs import Unit
        n = len(rows["id"])
        units = [i for i in range(n) if not rows["error"][i]]
        units_of = {i: Unit(str(rows["id"][i]), int(rows["chunk"][i]), int(rows["start"][i]), int(rows["end"][i]),
                            str(rows["text"][i])) for i in units}
        found = dict(zip(units, self.extractor.extract_many([units_of[i].text for i in units], self.batch)
                         if units else []))
        lines, errors = [], []
        for i in range(n):
            record = ({"id": str(rows["id"][i]), "error": str(rows["error"][i])} if i not in found
                      else unit_record(units_of[i], found[i]))
            # "by": which worker process made it, for tracing a cluster run (the merge drops it)
            lines.append(orjson.dumps({"order": [int(rows["file"][i]), int(rows["n"][i])], "by": os.getpid(),
                                       "record": record}).decode())
            errors.append(record.get("error", ""))
        return {"line": lines, "error": errors}


def connect(address: str, actors: int, threads: int) -> None:
    """Join (or, for "local", start) a Ray cluster, refusing a pool that would starve Ray Data's read tasks."""
    ray = _ray()
    # kgc-lite's stderr is for its own messages: Ray's info and warnings (token auth on a local cluster,
    # execution plans) go to its session logs only.
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if ray.is_initialized():
        pass
    elif address == "local":
        # Over-declare by one CPU: actors that claim every CPU leave none for the read and split tasks, and
        # the job hangs without an error.
        ray.init(num_cpus=actors * threads + 1, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=False)
    else:
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise KgcError(f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
    cpus = ray.cluster_resources().get("CPU", 0)
    if actors * threads >= cpus:
        raise KgcError(f"{actors} actors x {threads} threads claim all {cpus:g} CPUs of the Ray cluster, which "
                       "leaves none for reading the input (the job would hang); use fewer --actors or --threads")


def extract(*, address: str, actors: int, sources: list[str], output: str, done: Counter, model: str | None,
            model_sha256: str | None, schema, options, jsonl: bool, max_chars: int, split: bool, batch: int,
            threads: int, n_gpu_layers: int, n_ctx: int | None, on_error: str,
            tick: Callable[[], None] | None = None, two_stage: dict | None = None) -> int:
    """Run the extraction on Ray, then merge the records into `output` in input order; returns how many
    records are errors. With on_error="stop" the first error record ends the run before the merge (the work
    file keeps what was done, for --resume)."""
    if any(s == "-" for s in sources):
        raise KgcError("--ray-address reads files (Ray Data reads them on the workers); stdin cannot be used")
    if not jsonl:
        names = Counter(Path(s).name for s in sources)
        twice = [n for n, c in names.items() if c > 1]
        if twice:  # a text file's id is its name: two files with one name would share (id, chunk) keys
            raise KgcError(f"two inputs are named {twice[0]}; their records would share ids")
    for s in sources:
        if "://" not in s and not Path(s).is_file():
            raise KgcError(f"{s}: no such file")
    ray = _ray()
    connect(address, actors, threads)
    from ray.data import DataContext
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False  # kgc-lite draws its own bar, and only on a terminal
    index = {_norm(s): (i, s) for i, s in enumerate(sources)}
    ds = ray.data.read_binary_files([s for s in sources], include_paths=True)
    ds = ds.flat_map(_units_of_file, fn_kwargs={"sources": index, "jsonl": jsonl, "max_chars": max_chars,
                                                "split": split, "done": list(done.items())})
    # One file is one block after the split; re-cut it into small blocks so that every actor gets work (an
    # actor pool hands out whole blocks). Streaming: no barrier, the first units reach the actors at once.
    rows = max(batch, 4)
    ds = ds.repartition(target_num_rows_per_block=rows)
    # max_restarts=0: an actor that cannot load the model fails the run with its error instead of restarting
    # (Ray also logs an error for restartable actors whose arguments live in the object store). Ray flags
    # this argument as deprecated without a named replacement yet; its warning is not the user's business.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = ds.map_batches(ExtractActor, compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=threads,
                            batch_size=rows, batch_format="numpy", max_restarts=0,
                            fn_constructor_kwargs={"model": model, "model_sha256": model_sha256, "schema": schema,
                                                   "options": options, "threads": threads,
                                                   "n_gpu_layers": n_gpu_layers, "n_ctx": n_ctx, "batch": batch,
                                                   "two_stage": two_stage})
    errors = 0
    with JsonlSink(work_path(output)) as work, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Ray Data's tuning hints, not the user's business
        for row in ds.iter_rows():
            if row["error"]:
                if on_error == "stop":
                    raise InputError(row["error"])
                errors += 1
            work.write_line(row["line"].encode() + b"\n")
            if tick:
                tick()
    merge(output)
    return errors


def merge(output: str | os.PathLike) -> None:
    """Put the work file's records after out.jsonl's own (a plain run writes a prefix of the input in order,
    and a resumed --ray run skips that prefix) in input order, then replace out.jsonl in one rename."""
    work, tmp = work_path(output), merge_tmp_path(output)
    if not work.exists():
        return
    repair_tail(work)
    places = sorted((tuple(item["order"]), offset) for offset, item in read_lines(work, work=True))
    with open(tmp, "wb") as dst:
        if Path(output).exists():
            with open(output, "rb") as src:
                while block := src.read(1 << 20):
                    dst.write(block)
        with open(work, "rb") as src:
            for _, offset in places:
                src.seek(offset)
                dst.write(orjson.dumps(orjson.loads(src.readline())["record"]) + b"\n")
        dst.flush()
        os.fsync(dst.fileno())
    # Order matters for finish_merge: the work file goes only once tmp is complete, and tmp becomes
    # out.jsonl only once the work file is gone.
    work.unlink()
    fsync_dir(Path(output).resolve().parent)
    finish_merge(output)
