"""What produced a study's numbers: data files with checksums, split protocols, versions and machine."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from functools import lru_cache
from pathlib import Path

from llmad import LlmadError, datasets


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime)


def dataset_files(name: str) -> list[Path]:
    """The files a dataset is read from (the Flow-Bench zip and DAG; a log source's files)."""
    family, item = datasets.parse(name)
    if family == "logs":
        if item.startswith(":"):
            return [Path(item[1:])]
        from llmad.data.logs.catalogue import files_of

        return files_of(item)
    from llmad.data.flowbench import locate

    f = locate(item)
    return [p for p in (f.zip_path, f.dag_path) if p is not None]


def data_record(names: list[str]) -> list[dict]:
    out = []
    for name in names:
        try:
            files = dataset_files(name)
        except LlmadError as e:
            out.append({"dataset": name, "error": str(e)})
            continue
        out.append({"dataset": name, "files": [
            {"path": str(p), "bytes": p.stat().st_size, "sha256": checksum(p)} if p.is_file()
            else {"path": str(p), "missing": True} for p in files]})
    return out


@lru_cache(maxsize=1)
def versions() -> dict:
    """Installed versions of llmad and the libraries its results depend on (read from package metadata,
    so nothing heavy is imported for it)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("llmad", "numpy", "pandas", "scikit-learn", "lightgbm", "pyod", "drain3", "torch",
                 "transformers", "peft", "onnxruntime", "matplotlib"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def machine() -> dict:
    from llmad.threads import threads

    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    gpu = None
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "threads_used": threads(), "memory_gib": mem, "gpu": gpu}


def provenance(names: list[str], cells: list[dict]) -> dict:
    from llmad.data.splits import LEAKY, PROTOCOLS

    splits = sorted({c.get("split") or ("loader" if datasets.is_logs(c["dataset"]) else "run") for c in cells})
    return {"data": data_record(names), "data_dir": os.environ.get("LLMAD_DATA_DIR"),
            "splits": {s: PROTOCOLS.get(s, "the log loader's split (before windowing)") +
                       (" (leaky: for comparison only)" if LEAKY.get(s) else "") for s in splits},
            "versions": dict(versions()), "machine": machine()}
