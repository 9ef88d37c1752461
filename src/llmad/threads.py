"""How many CPU threads llmad's numeric libraries use (torch, ONNX Runtime, LightGBM).

``threads()`` is, in order: a value set with :func:`set_threads` (the CLI's ``--threads``), the
``LLMAD_THREADS`` environment variable, or the CPUs this process may actually use — its CPU affinity
and, inside a container, its cgroup CPU quota — not the machine's core count.

LightGBM gets one thread on small tables (:func:`lightgbm_threads`): on the 38,497 training jobs of
1000genome a fit takes 0.6 s with one thread and gains nothing from two, while with other CPU-bound
processes on the machine extra OpenMP threads only wait on each other (3x slower with two busy cores).
"""

from __future__ import annotations

import os
from pathlib import Path

from llmad import LlmadError

_override: int | None = None
LIGHTGBM_ROWS_PER_THREAD = 200_000


def set_threads(n: int | None) -> None:
    """Use ``n`` threads from now on (``None``: back to ``LLMAD_THREADS`` / the available CPUs)."""
    global _override
    if n is not None and n < 1:
        raise LlmadError(f"threads must be at least 1, not {n}")
    _override = n
    if n is not None and "torch" in __import__("sys").modules:
        import torch

        torch.set_num_threads(n)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``), None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may run on: affinity, capped by the cgroup quota (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        n = min(n, max(1, int(quota)))
    return max(1, n)


def threads() -> int:
    """Threads to use: ``set_threads`` > ``LLMAD_THREADS`` > available CPUs."""
    if _override is not None:
        return _override
    env = os.environ.get("LLMAD_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise LlmadError(f"LLMAD_THREADS must be a positive integer, not {env!r}") from None
        if n < 1:
            raise LlmadError(f"LLMAD_THREADS must be a positive integer, not {env!r}")
        return n
    return available_cpus()


def explicit() -> bool:
    """True when the user chose the thread count (``--threads`` or ``LLMAD_THREADS``)."""
    return _override is not None or bool(os.environ.get("LLMAD_THREADS", "").strip())


def lightgbm_threads(n_rows: int) -> int:
    """LightGBM threads for a table of ``n_rows``: the user's choice, else one per 200,000 rows."""
    if explicit():
        return threads()
    return max(1, min(threads(), n_rows // LIGHTGBM_ROWS_PER_THREAD))
