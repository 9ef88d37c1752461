"""Session labels: ``anomaly_label.csv`` (``BlockId,Label``) or a list of anomalous ids."""

from __future__ import annotations

from pathlib import Path

from llmad import LlmadError


def read_session_labels(path: str | Path) -> dict[str, int]:
    """``anomaly_label.csv`` (``BlockId,Label`` with Anomaly/Normal) or one anomalous id per line."""
    path = Path(path)
    if not path.is_file():
        raise LlmadError(f"{path}: label file not found")
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
        if "," in first:
            header = [h.strip() for h in first.split(",")]
            if len(header) < 2:
                raise LlmadError(f"{path}: line 1: expected a header like BlockId,Label")
            out = {}
            for n, line in enumerate(fh, start=2):
                line = line.strip()
                if not line:
                    continue
                parts = line.split(",")
                if len(parts) < 2:
                    raise LlmadError(f"{path}: line {n}: expected two comma-separated columns, got {line!r}")
                lab = parts[1].strip().lower()
                if lab not in ("anomaly", "normal", "1", "0"):
                    raise LlmadError(f"{path}: line {n}, column 2: label must be Anomaly or Normal, got {parts[1]!r}")
                out[parts[0].strip()] = int(lab in ("anomaly", "1"))
            return out
        ids = [first] + [ln.strip() for ln in fh]
        return {i: 1 for i in ids if i}
