"""Where data lives: ``$LLMAD_DATA_DIR`` (default ``~/.cache/llmad/data``) and the packaged sample."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def data_dir() -> Path:
    """The data root. Same layout as upstream: ``flowbench/<workflow>.zip``, ``logs/<dataset>/...``."""
    env = os.environ.get("LLMAD_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llmad" / "data"


def packaged_dir() -> Path:
    """Folder of the small data sample shipped inside the package (with its licence)."""
    return Path(str(resources.files("llmad") / "resources"))
