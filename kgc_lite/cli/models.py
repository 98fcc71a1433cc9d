"""`kgc-lite models`: list, pull, locate and verify the models in models.toml."""

from __future__ import annotations

import typer

from kgc_lite.cli.app import app
from kgc_lite.models import registry
from kgc_lite.models.resolve import pull, resolve

models_app = typer.Typer(help="List, download and verify models (models.toml).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def list_command() -> None:
    """Show every known model: its tier (fast: the embedded 135M models; quality: a larger base, better at reading
    your relations, slower), whether it is on this machine, the default (*), and what to pick it for, with its
    measured F1 and sentences/s."""
    default, specs = registry.load_registry()
    width = max(map(len, specs), default=0)
    for name, spec in specs.items():
        path = registry.locate(spec)
        mark = "*" if name == default else " "
        if path:
            where = str(path)
        elif spec.adapter and spec.base in specs and registry.obtainable(specs[spec.base]):
            where = f"built at first use from {spec.base} (here) + {spec.adapter}"
        else:
            where = "not here: " + registry.install_hint(spec)
        tier = spec.tier or ("untuned" if not spec.adapter else "-")
        typer.echo(f"{mark} {name:{width}} {tier:7} {where}\n    {spec.description}")
        if spec.pick:
            typer.echo(f"    pick it for: {spec.pick}")


@models_app.command("pull")
def pull_command(name: str = typer.Argument(..., help="Model name from models.toml.")) -> None:
    """Download a model from the Hugging Face hub and check its sha256."""
    path = pull(name)
    typer.echo(str(path))


@models_app.command("path")
def path_command(name: str = typer.Argument(None, help="Model name (default: the default model).")) -> None:
    """Print the local path of a model's GGUF file (verified)."""
    typer.echo(str(resolve(name).path))


@models_app.command("verify")
def verify_command(name: str = typer.Argument(None, help="Model name (default: the default model).")) -> None:
    """Check a model's file against its sha256 in models.toml."""
    resolved = resolve(name)
    typer.echo(f"ok {resolved.spec.name} {resolved.path} sha256={resolved.sha256}")
