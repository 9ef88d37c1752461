"""Where a study's cells are kept as they finish, so an interrupted study resumes and loses nothing.

``cells.jsonl`` is append-only: one JSON line per finished cell (``key``, ``params``, ``status`` ok / failed,
``result`` or ``error``), flushed and fsynced before the next cell starts. A line cut short by a kill or a
power loss is the last one and is ignored on reading (that cell simply runs again); ``results.json`` is
rewritten atomically (temporary file + rename) after every cell, so it is never half written either.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from llmad import LlmadError

CELLS = "cells.jsonl"
RESULTS = "results.json"


def cell_key(params: dict) -> str:
    """A stable id of a cell: the hash of its parameters (canonical JSON)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


class CellStore:
    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / CELLS
        self.cells: dict[str, dict] = {}
        self.torn = 0  # lines cut short by an interruption (ignored)
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        lines = self.path.read_bytes().split(b"\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if i >= len(lines) - 2:  # the last line, cut by a kill: that cell reruns
                    self.torn += 1
                    continue
                raise LlmadError(f"{self.path}: line {i + 1} is not valid JSON; the file was edited or damaged "
                                 "(remove that line to rerun the cell)") from None
            if not isinstance(rec, dict) or "key" not in rec:
                raise LlmadError(f"{self.path}: line {i + 1} is not a study cell")
            self.cells[rec["key"]] = rec
        if self.torn:  # drop the torn tail so the next append starts on a line of its own
            good = b"".join(line + b"\n" for line in lines if line.strip() and _is_json(line))
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(good)
            os.replace(tmp, self.path)

    def done(self, key: str, retry_failed: bool = False) -> bool:
        rec = self.cells.get(key)
        return rec is not None and (rec["status"] == "ok" or not retry_failed)

    def add(self, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, sort_keys=True, default=_json_default) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.cells[rec["key"]] = json.loads(line)

    def write_results(self, doc: dict) -> Path:
        path = self.out / RESULTS
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=_json_default))
        os.replace(tmp, path)
        return path


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def _json_default(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
