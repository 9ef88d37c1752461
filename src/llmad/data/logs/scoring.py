"""Reading a NEW raw log file the way a trained detector's data was read (``llmad detect``, the service)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from llmad import LlmadError
from llmad.data.logs.catalogue import BUILTIN
from llmad.data.logs.grouping import fixed_windows, mark_edges, session_clock, session_windows, time_windows
from llmad.data.logs.labels import read_session_labels
from llmad.data.logs.lines import read_lines
from llmad.data.logs.options import LogOptions
from llmad.data.logs.text import render_all
from llmad.data.logs.windows import grouping_of

Progress = Callable[[int, int], None] | None


DEFAULT_FORMAT = {"hdfs": "hdfs", "spirit": "spirit"}


def scoring_options(dataset: str | None, opts: LogOptions) -> LogOptions:
    """Options to read a NEW raw file like the data a detector was trained on (``llmad detect``)."""
    item = (dataset or "").split("/", 1)[1] if (dataset or "").startswith("logs/") else None
    spec = BUILTIN.get(item) if item else None
    fmt = opts.format or (spec.format if spec else DEFAULT_FORMAT.get(item or ""))
    if not fmt:
        raise LlmadError("give the file's line format with --format (the model does not record one)")
    grouping = opts.grouping or (spec.grouping if spec else {"hdfs": "session", "spirit": "line"}.get(item or "", "fixed"))
    window = opts.window if opts.window is not None else (spec.window if spec and grouping == spec.grouping else None)
    return replace(opts, format=fmt, grouping=grouping, window=window)


def file_windows(path: str | Path, opts: LogOptions, progress: Progress = None,
                 trained_timeout: dict | None = None) -> pd.DataFrame:
    """Windows of a whole raw file, unsplit (part ``all``), for scoring. Labels when the file has them.

    Sessions that may be cut by the file's start or end are marked (``cut``, ``complete``): with
    ``opts.session_timeout`` when given, else ``trained_timeout`` (what the model learnt from its training
    sessions: ``{"value", "unit"}``). ``attrs["logs"]["edges"]`` says which rule marked how many."""
    path = Path(path)
    g = grouping_of("fixed", 20, opts)
    lines, summaries = read_lines([path], opts.format, opts, g.kind == "session", progress=progress)
    if len(lines) == 0:
        raise LlmadError(f"{path}: no line matches the format {opts.format!r} "
                         f"(see the quarantine file {summaries[0].get('quarantine_file')})")
    if g.kind == "session":
        labels = read_session_labels(opts.labels) if opts.labels else None
        w, outside = session_windows(lines, session_labels=labels, split=False)
        edges = _edges(lines, w, opts, trained_timeout)
        w = edges.pop("windows")
    else:
        lines = lines.assign(part="all")
        w = fixed_windows(lines, int(g.window), int(g.stride)) if g.kind == "fixed" else \
            time_windows(lines, g.window, g.stride)
        outside = 0
        edges = None
    tcfg = opts.masked_text()
    texts, cut = render_all(w["messages"].tolist(), tcfg)
    w["text"] = texts
    w.attrs = {"logs": {"sources": summaries, "lines": int(len(lines)), "windows": int(len(w)),
                        "windows_cut": int(cut), "lines_outside_sessions": int(outside),
                        "grouping": {"kind": g.kind, "window": g.window, "step": g.stride}, "edges": edges}}
    return w


def _edges(lines: pd.DataFrame, w: pd.DataFrame, opts: LogOptions, trained: dict | None) -> dict:
    """Mark sessions cut by the file's edges; the report says with which timeout."""
    clock, unit = session_clock(lines)
    if opts.session_timeout is not None:
        timeout, source = float(opts.session_timeout), "given (--session-timeout)"
        t_unit = unit
    elif trained:
        timeout, t_unit, source = float(trained["value"]), trained["unit"], "learnt from the training sessions"
    else:
        timeout, t_unit, source = None, unit, None
    if timeout is None or t_unit != unit:
        why = ("the model records no session timeout (give --session-timeout)" if timeout is None else
               f"the model's timeout is in {t_unit} but this file's lines have "
               + ("timestamps" if unit == "s" else "no timestamps") + " (give --session-timeout)")
        return {"windows": w.assign(cut="unknown", complete=None), "marked": False, "note": why}
    w = mark_edges(w, float(clock.min()), float(clock.max()), timeout)
    counts = w["cut"].value_counts()
    return {"windows": w, "marked": True, "timeout": timeout, "unit": unit, "source": source,
            "incomplete": int((~w["complete"]).sum()),
            "cut_at": {k: int(counts.get(k, 0)) for k in ("start", "end", "both")}}
