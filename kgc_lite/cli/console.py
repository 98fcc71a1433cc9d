"""What every command shares on the terminal: results to stdout as JSONL, one flushed line per record;
errors as one line on stderr; a progress bar on stderr only when it is a terminal."""

from __future__ import annotations

import os
import sys
from typing import Iterable

import orjson
import typer


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print one error line and return the Exit to raise."""
    sys.stderr.write(f"kgc-lite: error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def hint_at_terminal(files: list[str] | None, what: str) -> None:
    """A command waiting on stdin at a terminal looks hung: say what it waits for, once, on stderr."""
    if not files or files == ["-"]:
        try:
            interactive = sys.stdin.isatty()
        except (AttributeError, ValueError):  # stdin closed or replaced
            interactive = False
        if interactive:
            sys.stderr.write(f"kgc-lite: reading {what} from the terminal; end with Ctrl-D, or name a file\n")
            sys.stderr.flush()


class Progress:
    """A progress bar on stderr (tqdm): count, units/s, and a bar with ETA once the total is known. Shown only
    when stderr is a terminal unless forced; stdout never sees it."""

    def __init__(self, what: str, enabled: bool | None = None, total: int | None = None, initial: int = 0):
        self.what = what
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.count = initial  # a resumed run starts at what is already done
        self.total = total
        self._bar = None

    def _open(self):
        if self._bar is None and self.enabled:
            from tqdm import tqdm  # lazily: most runs write to a pipe and never draw a bar
            self._bar = tqdm(total=self.total, initial=self.count, unit=" " + self.what, file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.5, smoothing=0.1, leave=True)
        return self._bar

    def tick(self, n: int = 1) -> None:
        bar = self._open()  # before counting: a new bar starts at the count so far
        self.count += n
        if bar is not None:
            bar.update(n)

    def set_total(self, total: int) -> None:
        """Known only now (counted in the background, say): the bar gains its ETA from here on."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def done(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def write_jsonl(records: Iterable[dict], progress: Progress | None = None) -> int:
    """Write records as JSONL to stdout, one flushed line each; returns how many had an "error" key."""
    out = sys.stdout.buffer
    errors = 0
    try:
        for record in records:
            out.write(orjson.dumps(record) + b"\n")
            out.flush()
            errors += "error" in record
            if progress:
                progress.tick()
    except BrokenPipeError:
        # The reader (e.g. `head`) has gone: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0)
    finally:
        if progress:
            progress.done()
    return errors


def say(message: str) -> None:
    """A message on stderr, flushed (stdout is for results)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def check_choice(value: str, allowed, name: str) -> None:
    """A usage error (exit 2) unless value is one of allowed."""
    if value not in allowed:
        raise fail(f"{name} must be one of: {', '.join(allowed)} (got {value!r})", 2)
