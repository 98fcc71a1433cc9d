"""The `kgc-lite` command line: a thin skin over the library. Each command lives in a module of this package.

Conventions shared by every command: results go to stdout as JSONL, one complete line per record, flushed as
it is made; messages and progress go to stderr; a user error is one line on stderr and exit status 1 (2 for
usage errors), never a traceback; `| head` ends quietly; Ctrl-C leaves only complete lines (exit 130).
"""

from __future__ import annotations

import os
import sys

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import Progress, fail
from kgc_lite.errors import KgcError

__all__ = ["app", "main", "Progress"]


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


# Command modules register themselves on `app` when imported; `--help` lists them in this order.
from kgc_lite.cli import extract as _extract  # noqa: E402,F401,I001
from kgc_lite.cli import qa4re as _qa4re  # noqa: E402,F401,I001
from kgc_lite.cli import export as _export  # noqa: E402,F401,I001
from kgc_lite.cli import models as _models  # noqa: E402,F401,I001
from kgc_lite.cli import eval as _eval  # noqa: E402,F401,I001
from kgc_lite.cli import bench as _bench  # noqa: E402,F401,I001
from kgc_lite.cli import report as _report  # noqa: E402,F401,I001
from kgc_lite.cli import train as _train  # noqa: E402,F401,I001
from kgc_lite.cli import doctor as _doctor  # noqa: E402,F401,I001
