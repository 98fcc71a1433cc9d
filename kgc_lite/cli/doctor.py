"""`kgc-lite doctor`: report what this installation can do."""

from __future__ import annotations

import typer

from kgc_lite.cli.app import app
from kgc_lite.runtime.doctor import report


@app.command("doctor")
def doctor_command(offload: bool = typer.Option(True, "--offload/--no-offload", help="Load the default model "
                                                "with full GPU offload and report how many layers moved.")) -> None:
    """Show llama.cpp's backends (CPU features, CUDA/Metal), GPU offload, models found and verified, and the
    training stack."""
    for item, finding in report(check_offload=offload):
        typer.echo(f"{item:28} {finding}")
