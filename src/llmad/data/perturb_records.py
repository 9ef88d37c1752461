"""Unstable job records, for the TEST part only (robustness studies on Flow-Bench).

What a monitoring pipeline does to records in practice, named and seeded like the log perturbations:

- ``missing_values``: each of the nine paper features of a record is lost (NaN) with probability ``ratio``
  — a collector that drops fields;
- ``jitter``: each of those features is multiplied by ``exp(N(0, ratio))`` — clock skew and sampling noise
  of about ``ratio`` relative size (byte counts included).

Each record draws from a generator seeded by ``(seed, job_id)``, so the result does not depend on row order.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.data.flowbench import PAPER_FEATURES

RECORD_KINDS = ("missing_values", "jitter")


def perturb_records(table: pd.DataFrame, kind: str, ratio: float, seed: int = 0) -> pd.DataFrame:
    """A perturbed copy of a table of job records (labels and every other column unchanged)."""
    if kind not in RECORD_KINDS:
        raise LlmadError(f"unknown record perturbation {kind!r}; choose one of {', '.join(RECORD_KINDS)}")
    if "part" in table.columns and (table["part"] != "test").any():
        raise LlmadError("perturbations apply to the test part only")
    cols = [c for c in PAPER_FEATURES if c in table.columns]
    out = table.copy()
    out.attrs = table.attrs
    if ratio == 0 or not len(table):
        return out
    ids = table["job_id"].astype(str).to_numpy() if "job_id" in table.columns else np.arange(len(table)).astype(str)
    run = table["run_id"].astype(str).to_numpy() if "run_id" in table.columns else np.full(len(table), "")
    x = out[cols].to_numpy(dtype="float64", copy=True)
    for i, (r, j) in enumerate(zip(run, ids)):
        rng = np.random.default_rng([seed, zlib.crc32(f"{r}/{j}".encode())])
        if kind == "missing_values":
            x[i, rng.random(len(cols)) < ratio] = np.nan
        else:
            x[i] = x[i] * np.exp(rng.normal(0.0, ratio, len(cols)))
    out[cols] = x
    return out
