"""A model name or path -> a verified GGUF file on disk: the packaged base, a hub download, or a
fine-tuned registry model built from its adapter on first use (kgc_lite/models/build.py)."""

from __future__ import annotations

import os
from pathlib import Path

from kgc_lite.errors import KgcError
from kgc_lite.models.build import build_registry_model
from kgc_lite.models.merge import read_prompt_metadata
from kgc_lite.models.registry import (
    _HEX64,
    ModelSpec,
    ResolvedModel,
    check_gguf_header,
    home,
    install_hint,
    join_parts,
    locate,
    spec_for,
    verify_file,
)


def resolve(model: str | None) -> ResolvedModel:
    """A registry name (or None for the default) or a path to a .gguf file, located and verified."""
    if model and (model.endswith(".gguf") or os.sep in model):
        path = Path(model)
        if not path.is_file():
            raise KgcError(f"model file {model} does not exist")
        check_gguf_header(path)
        # a file from `kgc-lite convert` names its training prompt
        return ResolvedModel(ModelSpec(name=path.stem, **read_prompt_metadata(path)), path, None)
    spec = spec_for(model)
    path = locate(spec) or join_parts(spec)
    def base() -> Path:
        return resolve(spec.base).path

    if path is None and spec.adapter:  # merge + quantize the adapter into its base, once
        path = build_registry_model(spec, base)
    if path is None:
        raise KgcError(f"model {spec.name!r} is not on this machine; {install_hint(spec)}")
    check_gguf_header(path)
    if spec.adapter and path == home() / "models" / f"{spec.name}.gguf":
        try:
            return ResolvedModel(spec, path, verify_file(path, spec.sha256, spec.name))
        except KgcError:  # built from an older adapter (kgc-lite was upgraded): build it again
            # rechecks under the build lock, replaces the file whole
            path = build_registry_model(spec, base)
    return ResolvedModel(spec, path, verify_file(path, spec.sha256, spec.name))


def pull(name: str, progress: bool = True) -> Path:
    """Download a registry model from the hub into the huggingface-hub cache and verify it. A fine-tuned entry
    pulls its base (unless that is already here) and is then built from it and its adapter."""
    spec = spec_for(name)
    if spec.base and spec.adapter:
        base = spec_for(spec.base)
        if locate(base) is None and join_parts(base) is None:
            pull(base.name, progress)
        return resolve(name).path
    if not (spec.repo and spec.file):
        raise KgcError(f"model {name!r} has no hub source in models.toml")
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    expected = spec.sha256
    try:
        if not expected:
            # Hub LFS files carry their sha256 as the etag: verify against the hub's own record.
            etag = get_hf_file_metadata(hf_hub_url(spec.repo, spec.file, revision=spec.revision)).etag or ""
            expected = etag.strip('"') if _HEX64.match(etag.strip('"')) else None
        path = Path(hf_hub_download(spec.repo, spec.file, revision=spec.revision))
    except LocalEntryNotFoundError:
        raise KgcError(f"cannot reach the model hub to download {name!r} (offline?)") from None
    except (HfHubHTTPError, OSError) as exc:
        raise KgcError(f"download of {name!r} failed: {str(exc).splitlines()[0]}") from None
    check_gguf_header(path)
    verify_file(path, expected, name)
    return path
