"""The `kgc-lite` command line: a thin skin over the library. Each command lives in a module of this package.

Conventions shared by every command: results go to stdout as JSONL, one complete line per record, flushed as
it is made; messages and progress go to stderr; a user error is one line on stderr and exit status 1 (2 for
usage errors), never a traceback; `| head` ends quietly; Ctrl-C leaves only complete lines (exit 130).
"""

from __future__ import annotations

import os
import sys
from typing import Iterable

import orjson
import typer

from ..errors import KgcError

app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Extract knowledge-graph triplets from text with small local LLMs (llama.cpp), offline.\n\n"
                       "\b\nExamples:\n"
                       "  kgc-lite extract doc.txt\n"
                       "  cat corpus.txt | kgc-lite extract --schema ade\n"
                       "  kgc-lite extract --jsonl records.jsonl --batch 8 > triplets.jsonl\n"
                       "  cat pairs.jsonl | kgc-lite --qa4re\n"
                       "  kgc-lite eval --dataset conll04 --split test\n"
                       "  kgc-lite doctor")

# Shared by extract and eval, which both run the extractor.
RETOKENIZE_OPTION = typer.Option(None, "--retokenize/--no-retokenize", help="Show ordinary text to the model split "
                                 "as its pre-tokenized training text ('Redmond , Washington .') and map its spans "
                                 "back to your text. Default: on for models trained on pre-tokenized text "
                                 "(models.toml tokenized_text, as the default model is).")


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


@app.callback(invoke_without_command=True)
def root(ctx: typer.Context,
         qa4re: bool = typer.Option(False, "--qa4re", help="Classify entity pairs read from stdin as multiple-choice "
                                    "QA: `kgc-lite --qa4re [OPTIONS] [FILES]` is `kgc-lite qa4re [OPTIONS] [FILES]`."),
         version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        from importlib.metadata import version as pkg_version
        typer.echo(pkg_version("kgc-lite"))
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:  # `--qa4re` never gets here: main() routes it to the qa4re command
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def _route_qa4re(args: list[str]) -> list[str]:
    """`kgc-lite --qa4re [OPTIONS] [FILES]` is `kgc-lite qa4re [OPTIONS] [FILES]`, so the design card's form takes
    every qa4re option too (`cat pairs.jsonl | kgc-lite --qa4re --schema conll04`)."""
    if "--qa4re" in args and args[0].startswith("-") and not {"-h", "--help", "--version"} & set(args):
        return ["qa4re", *(a for a in args if a != "--qa4re")]
    return args


try:  # typer runs on its own copy of click since 0.2x; before, on click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer
    from click.exceptions import ClickException


def _usage_line(exc: ClickException) -> str:
    """Click's usage error (unknown option, bad value, missing argument) as one line that says where help is,
    instead of click's three-line block: `kgc-lite: error: No such option: --bogus (see 'kgc-lite extract -h')`."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    return f"{message} (see '{ctx.command_path} -h')" if ctx is not None else message


def main(argv: list[str] | None = None) -> None:
    args = _route_qa4re(list(sys.argv[1:] if argv is None else argv))
    try:
        # not standalone: usage errors come here as exceptions, to be written as one line like every other error
        code = app(args=args, prog_name="kgc-lite", standalone_mode=False)
    except ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `kgc-lite models` alone: its help is the answer
            exc.show()
            raise SystemExit(exc.exit_code)
        raise SystemExit(fail(_usage_line(exc), exc.exit_code).exit_code)
    except typer.Abort:  # end of input at a prompt; kgc-lite asks none, but never a traceback
        raise SystemExit(fail("aborted").exit_code)
    except KgcError as exc:
        raise SystemExit(fail(str(exc)).exit_code)
    except BrokenPipeError:
        raise
    except OSError as exc:  # the last net for a path the system refused (`-o` under a file, a full disk, ...)
        where = f"{exc.filename}: " if exc.filename else ""
        raise SystemExit(fail(f"{where}{exc.strerror or exc}").exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("kgc-lite: interrupted\n")
        raise SystemExit(130)
    except Exception as exc:  # a bug of ours: still one line (what was written stays), the traceback on request
        if os.environ.get("KGC_LITE_DEBUG"):
            raise
        raise SystemExit(fail(f"internal error, please report it: {type(exc).__name__}: {exc} (KGC_LITE_DEBUG=1 "
                              "shows where)").exit_code)
    if isinstance(code, int) and not isinstance(code, bool) and code:  # typer.Exit(n) comes back as n
        raise SystemExit(code)


# Command modules register themselves on `app` when imported.
from . import extract as _extract  # noqa: E402,F401
from . import models as _models  # noqa: E402,F401
from . import eval as _eval  # noqa: E402,F401
from . import qa4re as _qa4re  # noqa: E402,F401
from . import doctor as _doctor  # noqa: E402,F401
from . import train as _train  # noqa: E402,F401
from . import export as _export  # noqa: E402,F401
