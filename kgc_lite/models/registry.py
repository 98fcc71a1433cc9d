"""The model registry (models.toml): finding and verifying GGUF files (a name to a file, building and
downloading included: kgc_lite/models/resolve.py).

A model name resolves to a local GGUF path through, in order: a file shipped inside an installed Python package
(the embedded default, no network), a file produced by `kgc-lite convert` into the kgc-lite cache, then the
huggingface-hub cache filled by `kgc-lite models pull`, then a file split across several installed packages
(`package_parts`, e.g. the `[quality]` extra's base), joined once into the kgc-lite cache. Every file is checked
against its sha256 before use;
the check is remembered per (path, size, mtime) so a 100 MB model is hashed once, not on every run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import orjson

from kgc_lite.errors import KgcError
from kgc_lite.io.files import file_sha256

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str = ""
    # "fast" (the embedded 135M models), "quality" (a larger base: better reading, slower), or "" (untuned
    # references); `kgc-lite models list` shows it.
    tier: str = ""
    # What to pick the model for, with its measured F1 and speed (results/tiers.md); `kgc-lite models list`
    # shows it under the description.
    pick: str = ""
    package: str | None = None
    package_file: str | None = None
    # A file shipped in slices across installed packages ("pkg/data/part01.bin", ...), joined in this order into
    # home()/models/NAME.gguf at first use and checked against sha256 (PyPI caps a file's size, not a model's).
    package_parts: tuple[str, ...] = ()
    repo: str | None = None
    file: str | None = None
    revision: str = "main"
    sha256: str | None = None
    prompt_format: str = "chatml"
    context: int = 4096
    # Fine-tuned models (built by kgc-lite at first use, see convert.build_registry_model): the registry name
    # of the GGUF base, the LoRA adapter folder (relative to models.toml) and its safetensors' sha256, and the
    # quantization of the merged file, which lands in home()/models/NAME.gguf and is checked against sha256.
    base: str | None = None
    adapter: str | None = None
    adapter_sha256: str | None = None
    quant: str = "Q8_0"
    # The prompt the model works best with (a fine-tuned model: the one it was trained with); extract's
    # --prompt-style / --icl default to these.
    prompt_style: str = "code"
    icl: int = 3
    # extract's --stop-margin default (kgc_lite/runtime/decoding.py): close the triplet list only where closing
    # beats going on by more than this many nats; chosen on a development set for models that stop too early.
    stop_margin: float = 0.0
    # Trained on pre-tokenized text ("Redmond , Washington ."): extract shows it ordinary text split that way and
    # maps its spans back (kgc_lite/prompting/retokenize.py).
    tokenized_text: bool = False
    # QA4RE relation sets (schema names) the model was fine-tuned to answer: `kgc-lite qa4re` without --model
    # picks the first registry model listing the asked-for set, else the first listing "*" (any set), else the
    # default.
    qa4re_sets: tuple[str, ...] = ()
    # How the model was trained to answer QA4RE questions: "logits" (a letter; the default) or "entail" (yes or
    # no to one option statement at a time); `kgc-lite qa4re` uses it unless --answer says otherwise.
    qa4re_answer: str | None = None
    # Entail answers: how many of the written yes/no demonstrations (qa4re.ENTAIL_EXAMPLES) come before each
    # question; for untuned chat models (a fine-tuned entail model was trained without them).
    entail_examples: int = 0
    # Entail answers: where the question goes, "statement-first" (after each statement; what the fine-tuned
    # judges were trained on) or "question-first" (once after the sentence: about half the tokens a statement).
    entail_layout: str = "statement-first"
    # Trained to find the entity pairs a sentence relates, whatever the relation (the built-in `pairs` schema):
    # stage 1 of `extract --two-stage` uses the first registry model marked so.
    pair_finder: bool = False
    # The schemas a fine-tuned extractor was trained on: `extract` runs it in one pass on these, and two-stage
    # (pair finder + entail model) on any other schema, unless told otherwise.
    schemas: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    path: Path
    sha256: str | None


def home() -> Path:
    """kgc-lite's own cache: $KGC_LITE_HOME, else ~/.cache/kgc-lite."""
    return Path(os.environ.get("KGC_LITE_HOME") or Path.home() / ".cache" / "kgc-lite")


def registry_path() -> Path:
    return Path(os.environ.get("KGC_LITE_MODELS") or Path(__file__).resolve().parents[1] / "models.toml")


def load_registry(path: Path | None = None) -> tuple[str, dict[str, ModelSpec]]:
    path = path or registry_path()
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise KgcError(f"cannot read model registry {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise KgcError(f"model registry {path} does not parse: {exc}") from None
    specs = {}
    for name, entry in raw.get("models", {}).items():
        known = set(ModelSpec.__dataclass_fields__) - {"name"}
        extra = set(entry) - known
        if extra:
            raise KgcError(f"model registry {path}: model {name!r} has unknown keys {sorted(extra)}")
        for key in ("qa4re_sets", "schemas", "package_parts"):
            if key in entry:
                entry = dict(entry, **{key: tuple(entry[key])})
        specs[name] = ModelSpec(name=name, **entry)
    default = raw.get("default") or next(iter(specs), "")
    return default, specs


def spec_for(name: str | None) -> ModelSpec:
    default, specs = load_registry()
    name = name or default
    if name not in specs:
        raise KgcError(f"unknown model {name!r}; known: {', '.join(specs)} (or give a .gguf path)")
    return specs[name]


def qa4re_model_for(schema_name: str) -> str:
    """The model `kgc-lite qa4re` uses for a relation set when none is named: one fine-tuned for that set
    (registry order), else one listing "*" (trained to read any relation set's statements), else the registry
    default."""
    default, specs = load_registry()
    for name, spec in specs.items():
        if schema_name in spec.qa4re_sets:
            return name
    for name, spec in specs.items():
        if "*" in spec.qa4re_sets:
            return name
    return default


def tier_model(tier: str, schema_name: str) -> str:
    """The model of `tier` (models.toml `tier`) for a schema: the first trained on it (`schemas`, registry order),
    else the first trained on none in particular (it reads any schema in the prompt), else the tier's first."""
    _, specs = load_registry()
    tiered = [spec for spec in specs.values() if spec.tier == tier]
    if not tiered:
        known = sorted({spec.tier for spec in specs.values() if spec.tier})
        raise KgcError(f"no model in models.toml is of tier {tier!r} (tiers: {', '.join(known) or 'none'})")
    for spec in tiered:
        if schema_name in spec.schemas:
            return spec.name
    return next((spec.name for spec in tiered if not spec.schemas), tiered[0].name)


def pair_finder_model() -> str:
    """The model `extract --two-stage` finds pairs with when none is named: the first marked pair_finder."""
    _, specs = load_registry()
    for name, spec in specs.items():
        if spec.pair_finder:
            return name
    raise KgcError("no model in the registry is marked pair_finder = true; name one with --pair-model")


def _package_file(spec: ModelSpec) -> Path | None:
    if not (spec.package and spec.package_file):
        return None
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / spec.package_file
        if candidate.exists():
            return candidate
    return None


def _hub_file(spec: ModelSpec) -> Path | None:
    if not (spec.repo and spec.file):
        return None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    try:
        return Path(hf_hub_download(spec.repo, spec.file, revision=spec.revision, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


def _part_paths(spec: ModelSpec) -> list[Path] | None:
    """The installed files of a model shipped in slices, in order; None if any package is missing."""
    paths = []
    for part in spec.package_parts:
        package, _, rest = part.partition("/")
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            return None
        hits = [Path(folder) / rest for folder in found.submodule_search_locations if (Path(folder) / rest).is_file()]
        if not hits:
            return None
        paths.append(hits[0])
    return paths


def obtainable(spec: ModelSpec) -> bool:
    """Whether the model can be had on this machine without a download: on disk, or its slices installed."""
    return locate(spec) is not None or bool(spec.package_parts and _part_paths(spec))


def join_parts(spec: ModelSpec) -> Path | None:
    """A model shipped in slices (package_parts), joined into home()/models/NAME.gguf and checked against its
    sha256 before it takes that name; None if its packages are not installed."""
    paths = _part_paths(spec) if spec.package_parts else None
    if not paths:
        return None
    import hashlib
    out = home() / "models" / f"{spec.name}.gguf"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            for path in paths:
                with open(path, "rb") as part:
                    while chunk := part.read(1 << 22):
                        digest.update(chunk)
                        f.write(chunk)
        if spec.sha256 and digest.hexdigest() != spec.sha256:
            raise KgcError(f"model {spec.name!r}: the installed parts ({', '.join(spec.package_parts[:1])}, ...) "
                           f"join to sha256 {digest.hexdigest()[:12]}…, expected {spec.sha256[:12]}…; "
                           "reinstall them (pip install --force-reinstall 'kgc-lite[quality]')")
        os.replace(tmp, out)
    except OSError as exc:
        raise KgcError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def locate(spec: ModelSpec) -> Path | None:
    """Where the model's file is on this machine, without touching the network; None if nowhere."""
    converted = home() / "models" / f"{spec.name}.gguf"
    for candidate in (_package_file(spec), converted if converted.exists() else None, _hub_file(spec)):
        if candidate is not None:
            return candidate
    return None


def _stamp_path() -> Path:
    return home() / "verified.json"


def verify_file(path: Path, expected: str | None, name: str) -> str:
    """The file's sha256, checked against `expected` when given; refuses corrupt or substituted files."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    stamps: dict[str, str] = {}
    try:
        stamps = orjson.loads(_stamp_path().read_bytes())
    except (OSError, orjson.JSONDecodeError):
        pass
    digest = stamps.get(key) or file_sha256(path)
    if expected and digest != expected:
        raise KgcError(f"model {name!r} at {path} is corrupt or not the expected file "
                       f"(sha256 {digest[:12]}…, expected {expected[:12]}…); delete it and pull again")
    if stamps.get(key) != digest:
        stamps[key] = digest
        try:
            _stamp_path().parent.mkdir(parents=True, exist_ok=True)
            _stamp_path().write_bytes(orjson.dumps(stamps))
        except OSError:
            pass  # a read-only home only costs a re-hash next time
    return digest


def check_gguf_header(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise KgcError(f"cannot read model file {path}: {exc.strerror}") from None
    if magic != b"GGUF":
        raise KgcError(f"{path} is not a GGUF model file")


def install_hint(spec: ModelSpec) -> str:
    """How a user gets a model that is not on this machine."""
    base = spec_for(spec.base) if spec.base else spec
    ways = [f"run `kgc-lite models pull {spec.name}`"] if spec.repo or base.repo else []
    if base.package_parts:
        ways.append("without the hub, pip install 'kgc-lite[quality]'")
    elif base.package:
        ways.append(f"install the {base.package} package")
    return " or, ".join(ways) or "it has no source in models.toml"
