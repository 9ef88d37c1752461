"""Lines -> windows: split the lines (or sessions) first, then group within each part; text and dedup."""

from __future__ import annotations

import json

import pandas as pd

from llmad import LlmadError
from llmad.data.logs.grouping import (GroupingConfig, chrono_parts, fixed_windows, session_timeout, session_windows,
                                      time_windows)
from llmad.data.logs.options import LogOptions
from llmad.data.logs.text import TextConfig, render_all


def grouping_of(spec_grouping: str, spec_window: float, opts: LogOptions) -> GroupingConfig:
    kind = opts.grouping or spec_grouping
    if kind == "line":
        return GroupingConfig("fixed", 1, 1)
    window = opts.window if opts.window is not None else (spec_window if kind == spec_grouping else
                                                          (60 if kind == "time" else 20))
    return GroupingConfig(kind, window, opts.step, opts.session_regex)


def windows_from_lines(lines: pd.DataFrame, g: GroupingConfig, train: float, valid: float,
                       session_labels: dict[str, int] | None = None) -> tuple[pd.DataFrame, dict]:
    """Split the lines (or sessions), then group within each part."""
    info: dict = {}
    if g.kind == "session":
        if "sessions" not in lines.columns:
            raise LlmadError("session grouping needs session ids on the lines")
        w, outside = session_windows(lines, train, valid, session_labels)
        info["lines_outside_sessions"] = int(outside)
        info["session_timeout"] = session_timeout(*w.attrs["session_gaps"])
        info["lines_per_part"] = {p: int(w.loc[w["part"] == p, "n_lines"].sum()) for p in ("train", "valid", "test")}
        info["lines_per_part_note"] = "session lines (a line with several ids counts in each)"
        lines_part = None
        split_kind = "session"
    else:
        lines = lines.assign(part=chrono_parts(len(lines), train, valid))
        w = fixed_windows(lines, int(g.window), int(g.stride)) if g.kind == "fixed" else \
            time_windows(lines, g.window, g.stride)
        lines_part = lines["part"].value_counts().reindex(["train", "valid", "test"], fill_value=0)
        split_kind = "chrono"
    info["split"] = split_kind
    info["lines"] = int(len(lines))
    if lines_part is not None:
        info["lines_per_part"] = {k: int(v) for k, v in lines_part.items()}
        info["anomalous_lines_per_part"] = {
            p: int(((lines["part"] == p) & (lines["label"] == 1)).sum()) for p in ("train", "valid", "test")}
    return w, info


def finish_windows(w: pd.DataFrame, info: dict, opts: LogOptions, default_text: str = "masked") -> pd.DataFrame:
    """Text, dedup, attrs. The ``text`` column is always the masked text (what dedup compares and export
    shows); a model's own text layer (:mod:`llmad.text.layer`) renders what it reads from ``messages`` with
    the settings recorded in ``attrs["logs"]["text"]`` (``opts.text``, else the dataset's ``default_text``),
    mining drain3 templates on train when asked."""
    tcfg = opts.masked_text()
    mode = opts.text or default_text
    TextConfig(mode)  # validates the mode
    texts, cut = render_all(w["messages"].tolist(), tcfg)
    w["text"] = texts
    info["text"] = {"mode": mode, "given": opts.text is not None, "separator": tcfg.separator,
                    "collapse_repeats": tcfg.collapse_repeats, "max_chars": tcfg.max_chars, "windows_cut": int(cut)}
    if opts.dedup:
        seen = set(w.loc[w["part"] == "train", "text"])
        dup = (w["part"] != "train") & w["text"].isin(seen)
        info["dedup_removed"] = {p: int((dup & (w["part"] == p)).sum()) for p in ("valid", "test")}
        w = w[~dup].reset_index(drop=True)
    info["windows_per_part"] = {p: int((w["part"] == p).sum()) for p in ("train", "valid", "test")}
    info["anomalous_windows_per_part"] = {p: int(((w["part"] == p) & (w["label"] == 1)).sum())
                                          for p in ("train", "valid", "test")}
    w.attrs = {"split": info["split"], "logs": info}
    return w


def describe(table: pd.DataFrame) -> dict:
    """The loader's report (lines, windows, anomalies per part, quarantine, text cuts)."""
    return json.loads(json.dumps(table.attrs.get("logs", {}), default=str))
