"""Log datasets: raw files or Loghub samples -> a windows table with its split already decided.

Names (``llmad data list``):

- ``logs/hdfs``: the HDFS_v1 2 % block sample (LogLead's parsed parquet: 222,579 lines, 11,501 blocks,
  350 anomalous). One window per block (session); blocks split by first appearance, 70/10/20.
- ``logs/hdfs-20k`` / ``logs/hdfs-2k``: the raw ``HDFS_20000.log`` / ``HDFS_2k.log`` read with the
  HDFS format; sessions from every ``blk_`` id in a line; labels from ``anomalous_block_ids.txt``.
- ``logs/bgl``: ``BGL_5000.log`` (the first 35 minutes of BGL, all normal) and ``BGL_2k.log`` (Loghub's
  2,000-line sample spread over the 7 months, 143 alerts). They share no line; merged by the
  ``<Timestamp>`` field (4 lines of the 2k sample fall inside the 5000-line span). **Line-level by
  default** (``--grouping line``): consecutive lines of the 2k sample are hours to days apart, so a
  "window of 20 lines" over it is not a real sequence of events, and line-level keeps 7,001 examples
  instead of 350. Windows are available (``--grouping fixed --window 20 --step 20``). Split 80/10/10
  by line, not 70/10/20: the first ~5,000 lines (the 35 minutes of BGL_5000) hold no alert, and a
  70 % train part would contain none at all.
- ``logs/thunderbird``: ``thunderbird_20051115_slice.log`` (19,350 lines, 68 minutes, 715 alerts);
  fixed windows of 20 lines, step 20, split 70/10/20 by line.
- ``logs/spirit``: the 1,297 Spirit templates with a template-level label (no raw labelled Spirit
  lines are public in small files); one record per template, a stratified seeded 70/10/20 split.
  A user with the real ``spirit2`` file runs ``logs:<path> --format spirit``.
- ``logs:<path>``: a user's file with ``--format`` (a built-in name or a format string); fixed
  windows of 20 lines by default; labels from a ``<Label>`` field (``-`` normal) or ``--labels``
  (an ``anomaly_label.csv`` with ``BlockId,Label`` or a list of anomalous ids) for sessions.

The ``<Label>`` field (the answer for BGL / Thunderbird / Spirit) is never part of the model text:
texts are built from ``<Content>`` only, masked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.data.logs.formats import get_format
from llmad.data.logs.grouping import (GroupingConfig, chrono_parts, find_sessions, fixed_windows,
                                      session_windows, time_windows)
from llmad.data.logs.masking import mask_all
from llmad.data.logs.reader import LogReader, ReaderConfig
from llmad.data.logs.templates import TemplateConfig, TemplateModel
from llmad.data.logs.text import TextConfig, render_all
from llmad.paths import cache_dir, data_dir

Progress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class LogOptions:
    """Everything that turns a log source into windows; saved with a trained detector."""

    format: str | None = None        # built-in name or format string (raw files)
    grouping: str | None = None      # fixed | line | time | session (None: the dataset's default)
    window: float | None = None      # lines (fixed) or seconds (time)
    step: float | None = None
    labels: str | None = None        # anomaly_label.csv or anomalous-id list (sessions)
    session_regex: str = r"blk_-?\d+"
    text: str = "masked"             # masked | templates
    separator: str = " | "
    collapse_repeats: bool = True
    max_chars: int | None = None
    train: float | None = None       # split fractions (None: the dataset's default)
    valid: float | None = None
    dedup: bool = False              # drop valid/test windows whose text equals a train window's
    seed: int = 0                    # only for the stratified Spirit template split
    max_line_bytes: int = 64 * 1024
    quarantine_dir: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> LogOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})

    def merged(self, **over) -> LogOptions:
        return replace(self, **{k: v for k, v in over.items() if v is not None})


@dataclass(frozen=True)
class _Spec:
    files: tuple[str, ...]
    format: str
    grouping: str
    window: float = 20
    train: float = 0.7
    valid: float = 0.1
    label_file: str | None = None
    sort_by_time: bool = False


BUILTIN: dict[str, _Spec | None] = {
    "hdfs": None,  # parquet sample, see _hdfs_sample
    "hdfs-20k": _Spec(("hdfs/HDFS_20000.log",), "hdfs", "session", label_file="hdfs/anomalous_block_ids.txt"),
    "hdfs-2k": _Spec(("hdfs/HDFS_2k.log",), "hdfs", "session", label_file="hdfs/anomalous_block_ids.txt"),
    "bgl": _Spec(("bgl/BGL_2k.log", "bgl/BGL_5000.log"), "bgl", "line", window=1, train=0.8, valid=0.1,
                 sort_by_time=True),
    "thunderbird": _Spec(("thunderbird/thunderbird_20051115_slice.log",), "thunderbird", "fixed", window=20),
    "spirit": None,  # template-level CSV, see _spirit_templates
}

HDFS_EVENTS = "hdfs/hdfs_events_2percent.parquet"
HDFS_SEQS = "hdfs/hdfs_seqs_2percent.parquet"
SPIRIT_CSV = "spirit/spirit_templates_labelled.csv"


def names() -> list[str]:
    return [f"logs/{k}" for k in BUILTIN]


def files_of(item: str) -> list[Path]:
    root = data_dir() / "logs"
    if item == "hdfs":
        return [root / HDFS_EVENTS, root / HDFS_SEQS]
    if item == "spirit":
        return [root / SPIRIT_CSV]
    spec = BUILTIN[item]
    return [root / f for f in spec.files]


def _require(paths: list[Path], item: str) -> None:
    for p in paths:
        if not p.is_file():
            raise LlmadError(f"{p}: not found (dataset logs/{item}; set LLMAD_DATA_DIR, or run "
                             f"'llmad data download {item.split('-')[0]}' for the full data)")


# ---------------------------------------------------------------- labels
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


# ---------------------------------------------------------------- raw files -> lines
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


def read_lines(paths: list[Path], fmt_spec: str, opts: LogOptions, sessions: bool,
               sort_by_time: bool = False, progress: Progress = None) -> tuple[pd.DataFrame, list[dict]]:
    """Parse raw files into a chronological lines table (see :mod:`grouping`) and read summaries."""
    fmt = get_format(fmt_spec)
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
            rows_content.append(f["Content"])
            lab = f.get("Label")
            rows_label.append(-1 if lab is None else int(lab != "-"))
        summaries.append(reader.summary.to_dict())
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


# ---------------------------------------------------------------- lines -> windows
def _grouping(spec_grouping: str, spec_window: float, opts: LogOptions) -> GroupingConfig:
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


def _finish(w: pd.DataFrame, info: dict, opts: LogOptions, lines_for_templates: pd.DataFrame | None,
            name: str) -> pd.DataFrame:
    """Templates (optional), text, dedup, attrs."""
    tcfg = TextConfig(opts.text, opts.separator, opts.collapse_repeats, opts.max_chars)
    if opts.text == "templates":
        w = _apply_templates(w, info, name)
    texts, cut = render_all(w["messages"].tolist(), tcfg)
    w["text"] = texts
    info["text"] = {"mode": tcfg.mode, "separator": tcfg.separator, "collapse_repeats": tcfg.collapse_repeats,
                    "max_chars": tcfg.max_chars, "windows_cut": int(cut)}
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


def _apply_templates(w: pd.DataFrame, info: dict, name: str) -> pd.DataFrame:
    """Mine templates on train windows only; map valid/test messages to them (unseen -> a marker)."""
    model = TemplateModel(TemplateConfig(mask=False))  # messages are masked already
    tr = (w["part"] == "train").to_numpy()
    for msgs in w.loc[tr, "messages"]:
        for m in msgs:
            model.add(m)
    out = []
    for is_train, msgs in zip(tr, w["messages"]):
        out.append([model.template(model.match(m)) for m in msgs])
    w = w.assign(messages=out)
    state = cache_dir() / "templates" / f"{hashlib.sha1(name.encode()).hexdigest()[:16]}.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    model.save(state)
    info["templates"] = {"count": len(model), "state_file": str(state)}
    return w


def apply_templates_from(w: pd.DataFrame, model: TemplateModel, opts: LogOptions) -> pd.DataFrame:
    """Rewrite a windows table with a saved template model (``detect`` on new files)."""
    out = [[model.template(model.match(m)) for m in msgs] for msgs in w["messages"]]
    tcfg = TextConfig(opts.text, opts.separator, opts.collapse_repeats, opts.max_chars)
    texts, _ = render_all(out, tcfg)
    return w.assign(messages=out, text=texts)


# ---------------------------------------------------------------- datasets
def _hdfs_sample(opts: LogOptions, progress: Progress) -> pd.DataFrame:
    ev_path, seq_path = files_of("hdfs")
    _require([ev_path, seq_path], "hdfs")
    if opts.grouping not in (None, "session"):
        raise LlmadError("logs/hdfs is a block sample: only --grouping session applies "
                         "(use logs/hdfs-20k for line windows)")
    ev = pd.read_parquet(ev_path, columns=["m_message", "seq_id", "m_timestamp"])
    seqs = pd.read_parquet(seq_path, columns=["seq_id", "anomaly"])
    if progress:
        progress(1, 3)
    lines = pd.DataFrame({
        "line": np.arange(1, len(ev) + 1, dtype="int64"), "source": ev_path.name,
        "time": ev["m_timestamp"].astype("int64").to_numpy() / 1e6, "label": np.int8(-1),
        "sessions": [[s] for s in ev["seq_id"].astype(str)],
        "message": mask_all(ev["m_message"].astype(str).tolist())})
    if progress:
        progress(2, 3)
    labels = dict(zip(seqs["seq_id"].astype(str), seqs["anomaly"].astype(int)))
    missing = set(ev["seq_id"].astype(str)) - set(labels)
    if missing:
        raise LlmadError(f"{seq_path}: {len(missing)} block id(s) of {ev_path.name} have no label, "
                         f"e.g. {sorted(missing)[0]}")
    w, info = windows_from_lines(lines, GroupingConfig("session"), opts.train or 0.7,
                                 opts.valid if opts.valid is not None else 0.1, labels)
    info["sources"] = [{"path": str(ev_path), "lines": int(len(ev)), "parsed": int(len(ev)), "dropped": 0,
                        "note": "pre-parsed by LogLead; line = row number in the parquet"}]
    info["quarantined"] = 0
    if progress:
        progress(3, 3)
    return _finish(w, info, opts, lines, "logs/hdfs")


def _spirit_templates(opts: LogOptions) -> pd.DataFrame:
    (path,) = files_of("spirit")
    _require([path], "spirit")
    t = pd.read_csv(path, keep_default_na=False)
    if list(t.columns[:2]) != ["log", "label"]:
        raise LlmadError(f"{path}: expected columns log,label; got {list(t.columns)}")
    train = opts.train or 0.7
    valid = opts.valid if opts.valid is not None else 0.1
    rng = np.random.RandomState(opts.seed)
    part = np.empty(len(t), dtype=object)
    for lab in (0, 1):  # stratified, seeded: templates have no time order
        ix = np.flatnonzero(t["label"].to_numpy() == lab)
        ix = ix[rng.permutation(len(ix))]
        a, b = int(round(len(ix) * train)), int(round(len(ix) * (train + valid)))
        part[ix[:a]], part[ix[a:b]], part[ix[b:]] = "train", "valid", "test"
    w = pd.DataFrame({"window_id": np.arange(len(t)), "part": part, "session": None, "source": path.name,
                      "first_line": np.arange(2, len(t) + 2), "last_line": np.arange(2, len(t) + 2),
                      "n_lines": 1, "label": t["label"].astype(int).to_numpy(),
                      "messages": [[m] for m in mask_all(t["log"].astype(str))]})
    info = {"split": "stratified", "lines": int(len(t)), "quarantined": 0,
            "note": "template-level labels (LogPrompt); stratified seeded split, no time order",
            "sources": [{"path": str(path), "lines": int(len(t)), "parsed": int(len(t)), "dropped": 0}]}
    return _finish(w, info, opts, None, "logs/spirit")


def load_raw(paths: list[Path], fmt: str, opts: LogOptions, spec: _Spec | None, name: str,
             progress: Progress = None, labels_path: str | None = None) -> pd.DataFrame:
    g = _grouping(spec.grouping if spec else "fixed", spec.window if spec else 20, opts)
    lines, summaries = read_lines(paths, fmt, opts, g.kind == "session",
                                  sort_by_time=bool(spec and spec.sort_by_time), progress=progress)
    if len(lines) == 0:
        raise LlmadError(f"{', '.join(map(str, paths))}: no line matches the format {fmt!r} "
                         f"(see the quarantine file {summaries[0].get('quarantine_file')})")
    session_labels = read_session_labels(labels_path) if labels_path else None
    train = opts.train or (spec.train if spec else 0.7)
    valid = opts.valid if opts.valid is not None else (spec.valid if spec else 0.1)
    w, info = windows_from_lines(lines, g, train, valid, session_labels)
    info["sources"] = summaries
    info["quarantined"] = int(sum(s["quarantined"] for s in summaries))
    info["dropped_lines"] = int(sum(s["dropped"] for s in summaries))
    info["grouping"] = {"kind": g.kind, "window": g.window, "step": g.stride}
    return _finish(w, info, opts, lines, name)


def load(item: str, opts: LogOptions | None = None, progress: Progress = None) -> pd.DataFrame:
    """Windows table of ``logs/<item>`` or of a user's file (``item`` = ``:<path>``)."""
    opts = opts or LogOptions()
    if item.startswith(":"):
        path = Path(item[1:]).expanduser()
        if not opts.format:
            raise LlmadError(f"logs:{path}: give its line format with --format "
                             "(hdfs, bgl, thunderbird, spirit or a string like '<Date> <Time> <Level> <Content>')")
        if not path.is_file():
            raise LlmadError(f"{path}: no such log file")
        return load_raw([path], opts.format, opts, None, f"logs:{path}", progress, opts.labels)
    if item not in BUILTIN:
        raise LlmadError(f"unknown log dataset 'logs/{item}'; known: {', '.join(names())}, or logs:<path>")
    if item == "hdfs":
        return _hdfs_sample(opts, progress)
    if item == "spirit":
        return _spirit_templates(opts)
    spec = BUILTIN[item]
    paths = files_of(item)
    _require(paths, item)
    labels = opts.labels or (str(data_dir() / "logs" / spec.label_file) if spec.label_file else None)
    if opts.format and get_format(opts.format).spec != get_format(spec.format).spec:
        raise LlmadError(f"logs/{item} has a fixed format ({spec.format}); --format is for logs:<path>")
    return load_raw(paths, spec.format, opts, spec, f"logs/{item}", progress, labels)


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
    g = _grouping("fixed", 20, opts)
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


def describe(table: pd.DataFrame) -> dict:
    """The loader's report (lines, windows, anomalies per part, quarantine, text cuts)."""
    return json.loads(json.dumps(table.attrs.get("logs", {}), default=str))
