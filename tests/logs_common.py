"""Shared helpers of the system-log tests (real data from $LLMAD_DATA_DIR/logs)."""

import os
from pathlib import Path

import pytest


def logs_dir() -> Path:
    return Path(os.environ.get("LLMAD_DATA_DIR", "")) / "logs"


needs_logs = pytest.mark.skipif(not (logs_dir() / "bgl" / "BGL_2k.log").is_file(),
                                reason="shared log data not found (set LLMAD_DATA_DIR)")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Quarantine files and template states go to a temporary cache, never to ~/.cache."""
    monkeypatch.setenv("LLMAD_CACHE_DIR", str(tmp_path / "cache"))
