"""Where data lives: ``$LLMAD_DATA_DIR`` (default ``~/.cache/llmad/data``) and the packaged sample."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def data_dir() -> Path:
    """The data root. Same layout as upstream: ``flowbench/<workflow>.zip``, ``logs/<dataset>/...``."""
    env = os.environ.get("LLMAD_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llmad" / "data"


def cache_dir() -> Path:
    """Writable scratch space (quarantine files, ...): ``$LLMAD_CACHE_DIR`` or ``~/.cache/llmad``.

    The data root may be read-only (a shared mount), so nothing is ever written there except by
    ``llmad data download``.
    """
    env = os.environ.get("LLMAD_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llmad"


def packaged_dir() -> Path:
    """Folder of the small data sample shipped inside the package (with its licence)."""
    return Path(str(resources.files("llmad") / "resources"))
