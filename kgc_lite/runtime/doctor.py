"""`kgc-lite doctor`: what this installation can do — llama.cpp backends, GPU offload, models, training stack.

A llama-cpp-python built without a GPU flag silently runs on the CPU; this is where that shows.
"""

from __future__ import annotations

import importlib.metadata
import platform

from kgc_lite.errors import KgcError

TRAIN_PACKAGES = ("torch", "transformers", "peft", "accelerate", "gguf", "safetensors")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def report(check_offload: bool = True) -> list[tuple[str, str]]:
    """(item, finding) rows, in display order."""
    import llama_cpp

    from kgc_lite.models import registry as models
    from kgc_lite.models.resolve import resolve
    from kgc_lite.runtime.engine import Engine, amx_buffers_off, gpu_offload_supported

    rows = [("python", platform.python_version()), ("machine", f"{platform.system()} {platform.machine()}"),
            ("llama-cpp-python", _version("llama_cpp_python") or "?"),
            ("llama.cpp features", llama_cpp.llama_print_system_info().decode().strip().rstrip("|").strip())]
    rows.append(("CPU weight buffers", "plain: llama.cpp's AMX/repacked buffers are off (they crash this build on "
                 "AMX CPUs; KGC_LITE_EXTRA_BUFFERS=1 keeps them)" if amx_buffers_off() else
                 "llama.cpp's defaults (AMX/repacked where the CPU has them)"))
    gpu = gpu_offload_supported()
    rows.append(("GPU offload", "yes (CUDA/Metal/Vulkan backend built in)" if gpu else
                 "no: CPU-only build; for CUDA: CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install --no-cache-dir "
                 "--force-reinstall llama-cpp-python==0.3.36"))
    default, specs = models.load_registry()
    for name, spec in specs.items():
        path = models.locate(spec)
        if path is None:
            rows.append((f"model {name}", "not on this machine"))
            continue
        try:
            resolved = resolve(name)
            rows.append((f"model {name}", f"ok, sha256 verified: {resolved.path}" if spec.sha256
                         else f"present, no pinned sha256: {resolved.path}"))
        except KgcError as exc:
            rows.append((f"model {name}", f"PROBLEM: {exc}"))
    if check_offload and gpu:
        engine = Engine(resolve(None).path, n_ctx=512, n_gpu_layers=-1)
        rows.append(("offload test", engine.offload_report or "llama.cpp reported no offloaded layers"))
        engine.close()
    for package in TRAIN_PACKAGES:
        rows.append((f"train extra: {package}", _version(package) or "missing (pip install -e \".[train]\")"))
    try:
        import torch
        rows.append(("torch device", "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"))
    except ImportError:
        pass
    return rows
