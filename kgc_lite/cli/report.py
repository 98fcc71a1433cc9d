"""`kgc-lite report`: Markdown tables and plots over a folder of results files."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from kgc_lite.cli.app import app
from kgc_lite.cli.console import say
from kgc_lite.errors import KgcError


@app.command("report")
def report_command(
    files: List[str] = typer.Argument(..., help="Results files (or folders of them) from `kgc-lite eval` / "
                                      "`kgc-lite bench`."),
    markdown_out: Optional[str] = typer.Option(None, "--markdown", help="Write the Markdown here (default: stdout)."),
    plot_dir: Optional[str] = typer.Option(None, "--plot-dir", help="Folder for the PNG plots (default: the "
                                           "--markdown file's folder, else the current one)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the PNGs (needs matplotlib: "
                               "pip install 'kgc-lite[report]')."),
) -> None:
    """Markdown tables and plots (F1 per relation per model, F1 vs throughput) from results files."""
    from kgc_lite.evaluation import report as rep
    skipped: list[str] = []
    docs = rep.load_all(files, skipped)
    if skipped:
        say(f"kgc-lite: skipped {len(skipped)} JSON file(s) that are not kgc-lite results: {', '.join(skipped)}")
    base = Path(markdown_out).parent if markdown_out else Path.cwd()
    images: list[str] = []
    if plots:
        folder = Path(plot_dir) if plot_dir else base
        for p in rep.plots(docs, folder):
            try:
                images.append(p.resolve().relative_to(base.resolve()).as_posix())
            except ValueError:
                images.append(str(p))
    text = rep.markdown(docs, base, images)
    if markdown_out:
        try:
            Path(markdown_out).write_text(text, "utf-8")
        except OSError as exc:
            raise KgcError(f"cannot write {markdown_out}: {exc.strerror}") from None
        say(f"kgc-lite: wrote {markdown_out}" + (f" and {len(images)} plot(s)" if images else ""))
    else:
        typer.echo(text, nl=False)
