import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if "LLMAD_DATA_DIR" not in os.environ and SHARED.is_dir():
    os.environ["LLMAD_DATA_DIR"] = str(SHARED)


def shared_data() -> Path | None:
    p = Path(os.environ.get("LLMAD_DATA_DIR", "")) / "flowbench"
    return p if p.is_dir() else None


needs_shared = pytest.mark.skipif(shared_data() is None, reason="shared Flow-Bench data not found (set LLMAD_DATA_DIR)")


@pytest.fixture(scope="session")
def sample():
    from llmad.data.flowbench import load_workflow

    return load_workflow("sample")
