"""The `kgc-lite` Typer application and its root options (--version, --qa4re); each command module
registers itself on `app`."""

from __future__ import annotations

import typer

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
