"""Lines -> parts -> windows. The split is decided on lines (or sessions) BEFORE any grouping.

A *lines table* has one row per parsed line, in chronological order: ``line`` (1-based number in its
raw file), ``source`` (file name), ``time`` (epoch seconds, NaN when unknown), ``message`` (masked
content), ``label`` (0 normal, 1 anomalous, -1 unknown) and, for session grouping, ``sessions``
(every identifier found in the line; a line may belong to several sessions).

- :func:`chrono_parts`: the first ``train`` fraction of lines is train, the next ``valid`` fraction
  validation, the rest test; windows are then cut inside each part, so none straddles two parts.
- :func:`session_parts`: sessions ordered by first appearance; the first ``train`` fraction of
  sessions is train, and so on. A session is wholly in one part.
- :func:`fixed_windows`: N lines with step S; :func:`time_windows`: T seconds with step S;
  :func:`session_windows`: one window per identifier. A window is anomalous if any of its lines is
  (sessions: if its identifier is labelled anomalous).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmad import LlmadError

PARTS = ("train", "valid", "test")
GROUPINGS = ("fixed", "line", "time", "session")


@dataclass(frozen=True)
class GroupingConfig:
    """How lines become windows. ``window``/``step``: lines (fixed) or seconds (time)."""

    kind: str = "fixed"
    window: float = 20
    step: float | None = None  # default: = window (no overlap)
    session_regex: str = r"blk_-?\d+"

    def __post_init__(self):
        if self.kind not in GROUPINGS:
            raise LlmadError(f"unknown grouping {self.kind!r}; choose one of {', '.join(GROUPINGS)}")
        if self.kind in ("fixed", "time"):
            if self.window is None or self.window <= 0:
                raise LlmadError(f"--window must be positive, got {self.window}")
            if self.step is not None and self.step <= 0:
                raise LlmadError(f"--step must be positive, got {self.step}")
            if self.kind == "fixed" and (self.window != int(self.window) or (self.step or 1) != int(self.step or 1)):
                raise LlmadError("--window and --step count lines for fixed windows: give whole numbers")
        if self.kind == "session":
            try:
                re.compile(self.session_regex)
            except re.error as e:
                raise LlmadError(f"session regex {self.session_regex!r}: column {(e.pos or 0) + 1}: {e.msg}") from None

    @property
    def stride(self) -> float:
        return self.step if self.step is not None else self.window


def _check_fractions(train: float, valid: float) -> None:
    if not (0 < train < 1 and 0 <= valid < 1 and train + valid < 1):
        raise LlmadError(f"split fractions must satisfy 0 < train < 1, 0 <= valid and train + valid < 1 "
                         f"(got train={train}, valid={valid})")


def cut_points(n: int, train: float, valid: float) -> tuple[int, int]:
    _check_fractions(train, valid)
    a = int(n * train)
    b = int(n * (train + valid))
    return a, b


def chrono_parts(n_lines: int, train: float = 0.7, valid: float = 0.1) -> np.ndarray:
    """Part of each line by position: ``[train..., valid..., test...]``."""
    a, b = cut_points(n_lines, train, valid)
    parts = np.empty(n_lines, dtype=object)
    parts[:a], parts[a:b], parts[b:] = "train", "valid", "test"
    return parts


def _window_rows(lines: pd.DataFrame, idx_lists: list[np.ndarray], parts: list[str],
                 sessions: list[str | None]) -> pd.DataFrame:
    line_no = lines["line"].to_numpy()
    src = lines["source"].to_numpy()
    msg = lines["message"].to_numpy()
    lab = lines["label"].to_numpy()
    rows = []
    for wid, (ix, part, sess) in enumerate(zip(idx_lists, parts, sessions)):
        labels = lab[ix]
        label = 1 if (labels == 1).any() else (-1 if (labels == -1).all() else 0)
        srcs = list(dict.fromkeys(src[ix]))
        rows.append({"window_id": wid, "part": part, "session": sess, "source": "|".join(srcs),
                     "first_line": int(line_no[ix].min()), "last_line": int(line_no[ix].max()),
                     "n_lines": int(len(ix)), "label": label, "messages": list(msg[ix])})
    cols = ["window_id", "part", "session", "source", "first_line", "last_line", "n_lines", "label", "messages"]
    return pd.DataFrame(rows, columns=cols)


def _part_ranges(parts: np.ndarray) -> list[tuple[str, int, int]]:
    """Contiguous ``(part, start, stop)`` runs of a part array (chronological lines)."""
    out = []
    n = len(parts)
    i = 0
    while i < n:
        j = i
        while j < n and parts[j] == parts[i]:
            j += 1
        out.append((str(parts[i]), i, j))
        i = j
    return out


def fixed_windows(lines: pd.DataFrame, window: int, step: int | None = None) -> pd.DataFrame:
    """Windows of ``window`` lines every ``step`` lines, cut inside each part of ``lines['part']``."""
    window, step = int(window), int(step or window)
    idx, parts = [], []
    for part, a, b in _part_ranges(lines["part"].to_numpy()):
        start = a
        while start < b:
            stop = min(start + window, b)
            idx.append(np.arange(start, stop))
            parts.append(part)
            if stop >= b:
                break
            start += step
    return _window_rows(lines, idx, parts, [None] * len(idx))


def time_windows(lines: pd.DataFrame, seconds: float, step: float | None = None) -> pd.DataFrame:
    """Windows of ``seconds`` every ``step`` seconds (empty ones skipped), cut inside each part."""
    t = lines["time"].to_numpy(dtype="float64")
    if np.isnan(t).any():
        first = int(lines["line"].to_numpy()[np.isnan(t)][0])
        raise LlmadError(f"time windows need a timestamp on every line; line {first} has none "
                         "(the format needs <Timestamp> or <Date> <Time>)")
    step = float(step or seconds)
    idx, parts = [], []
    for part, a, b in _part_ranges(lines["part"].to_numpy()):
        tt = t[a:b]
        if np.any(np.diff(tt) < 0):
            raise LlmadError("time windows need lines in time order")
        s = tt[0]
        while s <= tt[-1]:
            lo = a + int(np.searchsorted(tt, s, side="left"))
            hi = a + int(np.searchsorted(tt, s + seconds, side="left"))
            if hi > lo:
                idx.append(np.arange(lo, hi))
                parts.append(part)
            s += step
    return _window_rows(lines, idx, parts, [None] * len(idx))


def session_clock(lines: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Where each line sits in time: its timestamp in seconds when every line has one, else its position
    (``"lines"``) — what session gaps and file edges are measured in."""
    t = lines["time"].to_numpy(dtype="float64") if "time" in lines.columns else None
    if t is not None and len(t) and not np.isnan(t).any():
        return t, "s"
    return np.arange(len(lines), dtype="float64"), "lines"


def session_windows(lines: pd.DataFrame, train: float = 0.7, valid: float = 0.1,
                    session_labels: dict[str, int] | None = None, split: bool = True) -> tuple[pd.DataFrame, int]:
    """One window per session id; sessions split by first appearance. Returns (windows, lines without id).

    ``lines['sessions']`` holds the ids of each line. A line with two ids is in both sessions.
    Labels: ``session_labels[id]`` when given (missing ids are normal), else any anomalous line.
    The windows get ``start`` / ``end`` (their first and last line on :func:`session_clock`), ``times`` (every
    line's place on that clock, in the order of ``messages``: what a cut by time reads, see
    :mod:`llmad.data.logs.prefixes`), and ``attrs["session_gaps"]`` the gaps between consecutive lines of the
    train sessions (all when unsplit).
    """
    members: dict[str, list[int]] = {}
    outside = 0
    for i, ids in enumerate(lines["sessions"].to_numpy()):
        if not len(ids):
            outside += 1
        for s in ids:
            members.setdefault(s, []).append(i)
    order = sorted(members, key=lambda s: members[s][0])  # first appearance (lines are chronological)
    if split:
        a, b = cut_points(len(order), train, valid)
        part_of = {s: ("train" if k < a else "valid" if k < b else "test") for k, s in enumerate(order)}
    else:  # scoring a new file: no parts
        part_of = {s: "all" for s in order}
    idx = [np.asarray(members[s]) for s in order]
    w = _window_rows(lines, idx, [part_of[s] for s in order], order)
    if session_labels is not None:
        w["label"] = [int(session_labels.get(s, 0)) for s in order]
    clock, unit = session_clock(lines)
    w["start"] = [float(clock[ix].min()) for ix in idx]
    w["end"] = [float(clock[ix].max()) for ix in idx]
    w["times"] = [clock[ix].tolist() for ix in idx]
    fit_part = "train" if split else "all"
    gaps = [np.diff(np.sort(clock[ix])) for ix, s in zip(idx, order) if part_of[s] == fit_part and len(ix) > 1]
    w.attrs["session_gaps"] = (np.concatenate(gaps) if gaps else np.zeros(0), unit)
    return w, outside


#: the quantile of within-session gaps (train sessions) that is the default session timeout
TIMEOUT_QUANTILE = 0.99


def session_timeout(gaps: np.ndarray, unit: str) -> dict:
    """A session with no line for this long is taken as closed: the 99th percentile of the gaps between
    consecutive lines of the training sessions (saved with a model; ``detect`` marks file edges with it)."""
    value = float(np.quantile(gaps, TIMEOUT_QUANTILE)) if len(gaps) else 0.0
    return {"value": value, "unit": unit, "rule": f"q{TIMEOUT_QUANTILE:g} of gaps between consecutive lines "
                                                  f"of the {len(gaps):,} train-session gaps"}


def mark_edges(w: pd.DataFrame, clock_start: float, clock_end: float, timeout: float) -> pd.DataFrame:
    """``cut`` = ``start`` (a session whose first line is within ``timeout`` of the file's start may have
    begun before it), ``end`` (its last line within ``timeout`` of the file's end: it may go on), ``both``
    or ``""``; ``complete`` = not cut. Such sessions are still scored, on what the file holds (the online
    setting: a detector sees a session before it ends), but they are not complete sessions."""
    at_start = (w["start"].to_numpy() - clock_start) < timeout
    at_end = (clock_end - w["end"].to_numpy()) < timeout
    cut = np.where(at_start & at_end, "both", np.where(at_start, "start", np.where(at_end, "end", "")))
    return w.assign(cut=cut, complete=~(at_start | at_end))


def find_sessions(messages, regex: str) -> list[list[str]]:
    """Every distinct match of ``regex`` in each message, in order of appearance."""
    pat = re.compile(regex)
    return [list(dict.fromkeys(pat.findall(m))) for m in messages]
