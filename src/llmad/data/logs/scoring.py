"""Reading a NEW raw log file the way a trained detector's data was read (``llmad detect``, the service)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from llmad import LlmadError
from llmad.data.logs.catalogue import BUILTIN
from llmad.data.logs.grouping import fixed_windows, session_windows, time_windows
from llmad.data.logs.labels import read_session_labels
from llmad.data.logs.lines import read_lines
from llmad.data.logs.options import LogOptions
from llmad.data.logs.text import TextConfig, render_all
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


def file_windows(path: str | Path, opts: LogOptions, progress: Progress = None) -> pd.DataFrame:
    """Windows of a whole raw file, unsplit (part ``all``), for scoring. Labels when the file has them."""
    path = Path(path)
    g = grouping_of("fixed", 20, opts)
    lines, summaries = read_lines([path], opts.format, opts, g.kind == "session", progress=progress)
    if len(lines) == 0:
        raise LlmadError(f"{path}: no line matches the format {opts.format!r} "
                         f"(see the quarantine file {summaries[0].get('quarantine_file')})")
    if g.kind == "session":
        labels = read_session_labels(opts.labels) if opts.labels else None
        w, outside = session_windows(lines, session_labels=labels, split=False)
    else:
        lines = lines.assign(part="all")
        w = fixed_windows(lines, int(g.window), int(g.stride)) if g.kind == "fixed" else \
            time_windows(lines, g.window, g.stride)
        outside = 0
    tcfg = TextConfig("masked", opts.separator, opts.collapse_repeats, opts.max_chars)
    texts, cut = render_all(w["messages"].tolist(), tcfg)
    w["text"] = texts
    w.attrs = {"logs": {"sources": summaries, "lines": int(len(lines)), "windows": int(len(w)),
                        "windows_cut": int(cut), "lines_outside_sessions": int(outside),
                        "grouping": {"kind": g.kind, "window": g.window, "step": g.stride}}}
    return w
