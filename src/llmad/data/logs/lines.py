"""Raw log files -> one chronological table of parsed, masked lines (with read summaries)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.data.logs.formats import get_format
from llmad.data.logs.grouping import find_sessions
from llmad.data.logs.masking import mask_all
from llmad.data.logs.options import LogOptions
from llmad.data.logs.reader import ENV_MAX_UNPARSED, LogReader, ReaderConfig, check_unparsed, max_unparsed_from

Progress = Callable[[int, int], None] | None


def _epoch(fields_: dict[str, str]) -> float:
    ts = fields_.get("Timestamp")
    if ts is not None:
        try:
            return float(ts)
        except ValueError:
            pass
    d, t = fields_.get("Date"), fields_.get("Time")
    if d and t and len(d) == 6 and len(t) == 6 and d.isdigit() and t.isdigit():  # HDFS: yymmdd HHMMSS
        return pd.Timestamp(f"20{d[:2]}-{d[2:4]}-{d[4:]} {t[:2]}:{t[2:4]}:{t[4:]}").timestamp()
    return float("nan")


def text_fields(fmt, opts: LogOptions) -> tuple[str, ...]:
    """The fields (``opts.fields``) written before each message, checked against the format."""
    extra = opts.field_list()
    for k in extra:
        if k == "Label":
            raise LlmadError("--fields cannot include Label: it is the answer, never part of the model's text")
        if k == "Content":
            raise LlmadError("--fields names fields written BEFORE the message; Content is always there")
        if k not in fmt.fields:
            raise LlmadError(f"--fields: the format has no field {k!r}; its fields: {', '.join(fmt.fields)}")
    return extra


def read_lines(paths: list[Path], fmt_spec: str, opts: LogOptions, sessions: bool,
               sort_by_time: bool = False, progress: Progress = None) -> tuple[pd.DataFrame, list[dict]]:
    """Parse raw files into a chronological lines table (see :mod:`grouping`) and read summaries."""
    fmt = get_format(fmt_spec)
    extra = text_fields(fmt, opts)
    max_unparsed = max_unparsed_from(opts.max_unparsed)
    rows_line, rows_src, rows_time, rows_content, rows_label = [], [], [], [], []
    summaries = []
    epoch_cache: dict[tuple, float] = {}
    for path in paths:
        q = None
        if opts.quarantine_dir:
            q = str(Path(opts.quarantine_dir) / f"{path.name}.quarantine.tsv")
        reader = LogReader(path, fmt, ReaderConfig(max_line_bytes=opts.max_line_bytes, quarantine=q), progress)
        for n, f in reader:
            rows_line.append(n)
            rows_src.append(path.name)
            key = (f.get("Timestamp"), f.get("Date"), f.get("Time"))
            t = epoch_cache.get(key)
            if t is None:
                t = epoch_cache[key] = _epoch(f)
                if len(epoch_cache) > 100000:
                    epoch_cache.clear()
            rows_time.append(t)
            rows_content.append(f["Content"] if not extra else
                                " ".join([*(f.get(k) or "" for k in extra), f["Content"]]))
            lab = f.get("Label")
            rows_label.append(-1 if lab is None else int(lab != "-"))
        summaries.append(reader.summary.to_dict())
        check_unparsed(reader.summary, fmt, max_unparsed,
                       f"if that is expected, pass --allow-unparsed (API: LogOptions(max_unparsed=1); or {ENV_MAX_UNPARSED}=1)")
    lines = pd.DataFrame({"line": np.asarray(rows_line, dtype="int64"), "source": rows_src,
                          "time": np.asarray(rows_time, dtype="float64"),
                          "label": np.asarray(rows_label, dtype="int8")})
    if sessions:
        lines["sessions"] = find_sessions(rows_content, opts.session_regex)
    lines["message"] = mask_all(rows_content)
    if sort_by_time:
        if lines["time"].isna().any():
            raise LlmadError("cannot order the files by time: some lines have no timestamp")
        lines = lines.sort_values("time", kind="stable").reset_index(drop=True)
    return lines, summaries
