"""The log datasets llmad knows, and loading one (or a user's file) into a windows table, split decided.

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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.data.logs.formats import get_format
from llmad.data.logs.grouping import GroupingConfig
from llmad.data.logs.labels import read_session_labels
from llmad.data.logs.lines import read_lines
from llmad.data.logs.masking import mask_all
from llmad.data.logs.options import LogOptions
from llmad.data.logs.windows import finish_windows, grouping_of, windows_from_lines
from llmad.paths import data_dir

Progress = Callable[[int, int], None] | None


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
    #: the window text when --text is not given (logs/hdfs: ``HDFS_TEXT``)
    text: str = "masked"


BUILTIN: dict[str, _Spec | None] = {
    "hdfs": None,  # parquet sample, see _hdfs_sample
    "hdfs-20k": _Spec(("hdfs/HDFS_20000.log",), "hdfs", "session", label_file="hdfs/anomalous_block_ids.txt"),
    "hdfs-2k": _Spec(("hdfs/HDFS_2k.log",), "hdfs", "session", label_file="hdfs/anomalous_block_ids.txt"),
    "bgl": _Spec(("bgl/BGL_2k.log", "bgl/BGL_5000.log"), "bgl", "line", window=1, train=0.8, valid=0.1,
                 sort_by_time=True),
    "thunderbird": _Spec(("thunderbird/thunderbird_20051115_slice.log",), "thunderbird", "fixed", window=20,
                         text="ids"),
    "spirit": None,  # template-level CSV, see _spirit_templates
}

#: logs/hdfs's default window text: the template-id sequence. Measured on the slices (README, "Text modes"):
#: TF-IDF 0.838 -> 0.925 test F1 on HDFS, the language model 0.644 -> 0.838 ([CLS] pooling); on Thunderbird
#: TF-IDF is equal (0.992) and the LM gains (0.781 -> 0.940). On BGL lines ids fail (unseen test templates).
HDFS_TEXT = "ids"
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


def _hdfs_sample(opts: LogOptions, progress: Progress) -> pd.DataFrame:
    ev_path, seq_path = files_of("hdfs")
    _require([ev_path, seq_path], "hdfs")
    if opts.fields:
        raise LlmadError("logs/hdfs is pre-parsed to messages only: --fields applies to raw files "
                         "(logs/hdfs-20k, logs:<path>)")
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
    return finish_windows(w, info, opts, HDFS_TEXT)


def _spirit_templates(opts: LogOptions) -> pd.DataFrame:
    (path,) = files_of("spirit")
    _require([path], "spirit")
    if opts.fields:
        raise LlmadError("logs/spirit holds templates only: --fields applies to raw files")
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
    return finish_windows(w, info, opts)


def load_raw(paths: list[Path], fmt: str, opts: LogOptions, spec: _Spec | None, name: str,
             progress: Progress = None, labels_path: str | None = None) -> pd.DataFrame:
    g = grouping_of(spec.grouping if spec else "fixed", spec.window if spec else 20, opts)
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
    return finish_windows(w, info, opts, spec.text if spec else "masked")


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
