import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if "LLMAD_DATA_DIR" not in os.environ and SHARED.is_dir():
    os.environ["LLMAD_DATA_DIR"] = str(SHARED)
# under pytest-xdist (-n N) each worker takes its share of the CPUs: torch, ONNX Runtime and LightGBM in the
# worker and in the commands it runs read LLMAD_THREADS, so N workers do not each start a thread per core
if os.environ.get("PYTEST_XDIST_WORKER_COUNT") and "LLMAD_THREADS" not in os.environ:
    from llmad.threads import available_cpus

    os.environ["LLMAD_THREADS"] = str(max(1, available_cpus() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per CPU this process may use, at most 4 (each may hold a language model)."""
    from llmad.threads import available_cpus

    return min(4, available_cpus())


def shared_data() -> Path | None:
    p = Path(os.environ.get("LLMAD_DATA_DIR", "")) / "flowbench"
    return p if p.is_dir() else None


needs_shared = pytest.mark.skipif(shared_data() is None, reason="shared Flow-Bench data not found (set LLMAD_DATA_DIR)")


@pytest.fixture(scope="session")
def sample():
    from llmad.data.flowbench import load_workflow

    return load_workflow("sample")
