"""Options shared by several commands have one definition: the same name, help and default everywhere."""

from __future__ import annotations

import pytest
import typer.main

from kgc_lite.cli import app

from .conftest import run_cli


def _commands(group=None, prefix=""):
    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_n_gpu_layers_is_one_option_with_one_default_in_every_command():
    found = {}
    for name, cmd in _commands():
        for param in cmd.params:
            if "--n-gpu-layers" in getattr(param, "opts", ()):
                found[name] = (param.default, param.help)
    assert {"extract", "eval", "bench", "qa4re"} <= set(found)
    assert len(set(found.values())) == 1, found      # eval and qa4re once defaulted to 0: silently CPU-only
    assert next(iter(found.values()))[0] is None     # None: all layers where the build has a GPU backend


def test_asking_a_cpu_only_build_for_gpu_layers_warns_in_qa4re_too():
    from kgc_lite.runtime.engine import gpu_offload_supported
    if gpu_offload_supported():
        pytest.skip("this llama-cpp-python build has a GPU backend")
    result = run_cli("qa4re", "--n-gpu-layers", "4", "-s", "conll04", "examples/pairs.jsonl")
    assert result.returncode == 0, result.stderr
    assert b"no GPU backend" in result.stderr


EXPERIMENT_SWITCHES = {"extract": {"--reader-model"},
                       "eval": {"--reader-model", "--gloss", "--entail-layout", "--entail-batch"},
                       "qa4re": {"--entail-layout", "--entail-batch"},
                       "train": {"--negatives", "--gloss"}}


def test_experiment_switches_stay_out_of_help_but_still_run_their_recipes():
    """Switches no default uses are hidden from --help (docs/usage.md lists them with their experiment), yet
    still parse, so the recipes in experiments/ reproduce their published numbers."""
    import click

    commands = dict(_commands())
    for name, switches in EXPERIMENT_SWITCHES.items():
        cmd = commands[name]
        shown = cmd.get_help(click.Context(cmd, info_name=name))
        for param in cmd.params:
            opts = set(getattr(param, "opts", ()))
            if opts & switches:
                assert param.hidden and not any(o in shown for o in opts), (name, opts)
            elif isinstance(param, click.Option) and param.name != "help":
                assert not param.hidden, (name, opts)
        found = {o for p in cmd.params if getattr(p, "hidden", False) for o in p.opts}
        assert switches <= found, (name, switches - found)
    assert all(not getattr(p, "hidden", False) for n, c in commands.items() if n not in EXPERIMENT_SWITCHES
               for p in c.params)


@pytest.mark.parametrize("flag", ["--model", "--threads", "--ctx", "--progress", "--n-gpu-layers"])
def test_shared_options_read_alike_wherever_they_appear(flag):
    """--model, --threads, --ctx, --progress: one definition (cli/options.py) in extract, eval and bench;
    --threads reads the same in qa4re too."""
    found = {}
    for name, cmd in _commands():
        for param in cmd.params:
            if flag in getattr(param, "opts", ()):
                found[name] = (param.default, param.help, getattr(param, "min", None))
    expected = {"extract", "eval"} if flag == "--progress" else {"extract", "eval", "bench"}
    assert expected <= set(found), found
    same = {k: v for k, v in found.items() if k in expected or (flag == "--threads" and k == "qa4re")}
    assert len(set(same.values())) == 1, same
