"""Checking what a client sends, record by record: good records go on to be scored, bad ones come back as
``{"index", "field", "reason"}`` — one bad record never sinks the batch."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from llmad.data.flowbench import PAPER_FEATURES, _TEXT_COLUMNS

#: the numeric fields a job record must carry (the nine paper features; null = unknown)
REQUIRED = PAPER_FEATURES


def check_records(records: list[Any], offset: int = 0) -> tuple[pd.DataFrame, list[int], list[dict]]:
    """``(table of the good records, their indices, errors)``; indices count from ``offset``."""
    good, where, errors = [], [], []
    for i, rec in enumerate(records):
        idx = offset + i
        if not isinstance(rec, dict):
            errors.append({"index": idx, "field": None, "reason": f"a job record is a JSON object, not "
                                                                   f"{type(rec).__name__}"})
            continue
        bad = None
        for f in REQUIRED:
            if f not in rec:
                bad = (f, "missing (give null when unknown)")
                break
            v = rec[f]
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                bad = (f, f"must be a number or null, not {type(v).__name__} {str(v)[:40]!r}")
                break
            if not math.isfinite(float(v)):
                bad = (f, "must be finite")
                break
        if bad is None:
            for f in ("job_id", "run_id") + _TEXT_COLUMNS:
                v = rec.get(f)
                if v is not None and not isinstance(v, (str, int)):
                    bad = (f, f"must be a string, not {type(v).__name__}")
                    break
        if bad is not None:
            errors.append({"index": idx, "field": bad[0], "reason": bad[1]})
            continue
        good.append(rec)
        where.append(idx)
    table = pd.DataFrame.from_records(good) if good else pd.DataFrame(columns=list(REQUIRED))
    for f in REQUIRED:
        table[f] = pd.to_numeric(table[f], errors="coerce").astype("float64") if len(table) else table[f]
    for f in ("job_id", "run_id") + _TEXT_COLUMNS:
        if f in table.columns:
            table[f] = table[f].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                                    else str(v)).astype("string")
    if "job_id" not in table.columns:
        table["job_id"] = [str(i) for i in where]
    else:
        table["job_id"] = [str(j) if pd.notna(j) else str(i) for j, i in zip(table["job_id"], where)]
    return table, where, errors


def check_lines(lines: list[Any], fmt, offset: int = 0) -> tuple[list[str], list[int], list[dict]]:
    """Raw log lines that match the model's format, their indices, and errors for the others."""
    good, where, errors = [], [], []
    for i, line in enumerate(lines):
        idx = offset + i
        if not isinstance(line, str):
            errors.append({"index": idx, "field": None, "reason": f"a log line is a string, not {type(line).__name__}"})
            continue
        line = line.rstrip("\r\n")
        if "\n" in line:
            errors.append({"index": idx, "field": None, "reason": "one line per item (it holds a newline)"})
            continue
        if not line.strip():
            errors.append({"index": idx, "field": None, "reason": "empty line"})
            continue
        if fmt.parse(line) is None:
            errors.append({"index": idx, "field": None,
                           "reason": f"does not match the model's log format {fmt.spec!r} (quarantined)"})
            continue
        good.append(line)
        where.append(idx)
    return good, where, errors
