"""What the service does with a request once it is its turn: score through the run API (:func:`runs.score`)
and keep the state of streams — the run's earlier jobs (online context) or the log lines of windows and
sessions still open. Everything here runs on the service's one scoring thread, so no lock is needed.
"""

from __future__ import annotations

import math
import tempfile
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from llmad import LlmadError, runs
from llmad.detectors.base import Detector, load_detector

WINDOW_COLUMNS = ("session", "first_line", "last_line", "n_lines", "complete", "cut")


def plain_value(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is pd.NA or v is None:
        return None
    return v


def record_results(scored: pd.DataFrame, indices: list[int]) -> list[dict]:
    out = []
    cols = [c for c in scored.columns if c not in ("id", "score", "label")]
    for i, row in zip(indices, scored.itertuples(index=False)):
        d = row._asdict()
        r = {"index": i, "id": str(d["id"]), "score": float(d["score"]), "label": int(d["label"])}
        for c in cols:
            r[c] = plain_value(d[c])
        out.append(r)
    return out


@dataclass
class RecordStream:
    table: pd.DataFrame | None = None


@dataclass
class LineStream:
    lines: list[str] = field(default_factory=list)   # raw lines still needed by an open window
    numbers: list[int] = field(default_factory=list)  # their line numbers in the stream (1 = first line sent)
    seen: int = 0                                     # lines received so far (valid or not)
    emitted: int = 0                                  # windows returned so far


def context_readers(det: Detector) -> list[Detector]:
    """``det`` if it reads run context, and every (nested) ensemble member that does."""
    found = [det] if det.context_ is not None else []
    for m in getattr(det, "members_", []):
        found += context_readers(m)
    return found


class Scorer:
    """A loaded detector and the state of its streams."""

    def __init__(self, model: str | Path | Detector, max_streams: int = 1000, stream_max_records: int = 200_000):
        self.det = model if isinstance(model, Detector) else load_detector(model)
        self.det._check_fitted()
        self.readers = context_readers(self.det)  # the model, or the ensemble members, that read run context
        self.logs = runs.is_log_model(self.det)
        self.max_streams = max_streams
        self.stream_max = stream_max_records
        self.streams: OrderedDict[str, RecordStream | LineStream] = OrderedDict()
        self.dropped_streams = 0
        self.fmt = None
        if self.logs:
            from llmad.data.logs.formats import get_format

            self.opts = runs.log_read_options(self.det, {"max_unparsed": 1.0})
            self.fmt = get_format(self.opts.format)
            self.grouping = self.opts.grouping
            if self.grouping not in ("fixed", "line", "session", "time"):
                raise LlmadError(f"streams do not support the {self.grouping!r} grouping")

    # ------------------------------------------------------------------ info
    def describe(self) -> dict:
        d = {"detector": self.det.name, "input": "log lines" if self.logs else "job records",
             "threshold": float(self.det.threshold_), "dataset": self.det.run_.get("dataset"),
             "context": "+".join(sorted({r.context_.mode for r in self.readers})) or None}
        if self.logs:
            d.update({"format": self.fmt.spec, "grouping": self.grouping, "window": self.opts.window,
                      "step": self.opts.step})
        return d

    # ------------------------------------------------------------------ one-shot
    def score_records(self, table: pd.DataFrame) -> pd.DataFrame:
        # each row says whether the model has seen it; the app sums them up per request (a micro-batch mixes them)
        return runs.score(self.det, table)

    def score_lines(self, lines: list[str]) -> tuple[pd.DataFrame, dict]:
        scored = self._score_file(lines)
        return scored, scored.attrs.get("read", {})

    def _score_file(self, lines: list[str]) -> pd.DataFrame:
        with tempfile.TemporaryDirectory(prefix="llmad-serve-") as tmp:
            path = Path(tmp) / "lines.log"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return runs.score(self.det, path, log_options={"max_unparsed": 1.0, "quarantine_dir": tmp,
                                                            "session_timeout": 0})

    # ------------------------------------------------------------------ streams
    def _stream(self, sid: str, kind: type) -> RecordStream | LineStream:
        s = self.streams.get(sid)
        if s is None:
            s = self.streams[sid] = kind()
            while len(self.streams) > self.max_streams:
                self.streams.popitem(last=False)
                self.dropped_streams += 1
        self.streams.move_to_end(sid)
        return s

    def drop_stream(self, sid: str) -> bool:
        return self.streams.pop(sid, None) is not None

    @contextmanager
    def _online(self):
        """Score with the online context (only jobs that ended before each job), whatever the model's mode (for an
        ensemble: each member's that reads context)."""
        from llmad.context import RunContext

        trained = [r.context_ for r in self.readers]
        for r, ctx in zip(self.readers, trained):
            if ctx.mode != "online":
                r.context_ = RunContext("online", ctx.dag)
        try:
            yield
        finally:
            for r, ctx in zip(self.readers, trained):
                r.context_ = ctx

    def stream_records(self, sid: str, table: pd.DataFrame) -> pd.DataFrame:
        """Scores of new job records of a stream, each with the context of the stream's earlier jobs of its run."""
        s = self._stream(sid, RecordStream)
        if not isinstance(s, RecordStream):
            raise LlmadError(f"stream {sid!r} carries log lines, not job records")
        if not self.readers:
            return runs.score(self.det, table)
        full = table if s.table is None else pd.concat([s.table, table], ignore_index=True)
        if len(full) > self.stream_max:
            full = full.iloc[len(full) - self.stream_max:].reset_index(drop=True)
        with self._online():
            scored = runs.score(self.det, full)
        s.table = full
        return scored.iloc[len(full) - len(table):].reset_index(drop=True)

    def stream_lines(self, sid: str, lines: list[str], flush: bool = False, positions: list[int] | None = None,
                     sent: int | None = None) -> tuple[list[dict], dict]:
        """Windows of a log stream that closed with these lines (all open ones when ``flush``).

        ``positions``: where each line sat among the ``sent`` lines of the request (lines refused before
        keep their number, so a window's ``first_line`` / ``last_line`` count every line sent)."""
        s = self._stream(sid, LineStream)
        if not isinstance(s, LineStream):
            raise LlmadError(f"stream {sid!r} carries job records, not log lines")
        positions = list(range(len(lines))) if positions is None else positions
        s.numbers += [s.seen + p + 1 for p in positions]
        s.lines += lines
        s.seen += len(lines) if sent is None else sent
        overflow = max(0, len(s.lines) - self.stream_max)
        if overflow:  # the oldest buffered lines go; say so
            s.lines, s.numbers = s.lines[overflow:], s.numbers[overflow:]
        if not s.lines:
            return [], {"buffered_lines": 0, "dropped_lines": overflow}
        scored = self._score_file(s.lines)
        timed = self._closed(scored, s, False)
        closed = timed | flush
        out = []
        for k in np.flatnonzero(closed):
            w = scored.iloc[k]
            r = {"window": s.emitted, "score": float(w["score"]), "label": int(w["label"]),
                 "first_line": s.numbers[int(w["first_line"]) - 1], "last_line": s.numbers[int(w["last_line"]) - 1],
                 "n_lines": int(w["n_lines"])}
            if "seen" in scored.columns:  # a session the model was trained or validated on says which part
                r["seen"] = w["seen"]
            if "truncated" in scored.columns:  # a language model read the window cut at its token budget
                r["truncated"] = bool(w["truncated"])
            if self.grouping == "session":
                r["session"] = w["session"]
                r["closed_by"] = "timeout" if timed[k] else "flush"
            s.emitted += 1
            out.append(r)
        self._drop_used(scored, closed, s, flush)
        return out, {"buffered_lines": len(s.lines), "dropped_lines": overflow}

    def _closed(self, w: pd.DataFrame, s: LineStream, flush: bool) -> np.ndarray:
        """Windows complete without a flush: a full fixed window, a time window a later one follows, a session
        silent for the timeout learnt at training (on the stream's own clock)."""
        if self.grouping == "line":
            return np.ones(len(w), dtype=bool)
        if self.grouping == "fixed":
            return (w["n_lines"] == int(self.opts.window or 20)).to_numpy()
        if self.grouping == "time":  # a window is over once a later one has begun
            closed = np.ones(len(w), dtype=bool)
            if len(w):
                closed[-1] = False
            return closed
        # sessions: closed once no line came for the session timeout learnt at training
        timeout = (self.det.run_.get("session_timeout") or {}).get("value")
        if timeout is None or "end" not in w.columns:
            return np.zeros(len(w), dtype=bool)
        end = float(w["end"].max()) if len(w) else 0.0
        return (end - w["end"].to_numpy(dtype=float) > float(timeout))

    def _drop_used(self, w: pd.DataFrame, closed: np.ndarray, s: LineStream, flush: bool) -> None:
        """Forget the buffered lines no open window needs any more."""
        if flush or self.grouping == "line":
            s.lines, s.numbers = [], []
            return
        if self.grouping == "fixed":  # closed windows are the leading ones; the next starts step lines on
            keep_from = int(closed.sum()) * int(self.opts.step or self.opts.window or 20)
        elif self.grouping == "time":
            keep_from = int(w.loc[~closed, "first_line"].min()) - 1 if (~closed).any() else len(s.lines)
        else:  # sessions: keep the lines of the open sessions
            from llmad.data.logs.grouping import find_sessions

            open_ids = set(w.loc[~closed, "session"])
            contents = [(self.fmt.parse(x) or {}).get("Content", "") for x in s.lines]
            keep = [i for i, ids in enumerate(find_sessions(contents, self.opts.session_regex))
                    if any(x in open_ids for x in ids)]
            s.lines = [s.lines[i] for i in keep]
            s.numbers = [s.numbers[i] for i in keep]
            return
        s.lines, s.numbers = s.lines[keep_from:], s.numbers[keep_from:]
