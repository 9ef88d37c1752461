"""Normal sessions cut at a random moment of their life: training examples of what a live monitor sees.

A session is a block's (or a job's) whole life, from its first line to its last, and a log that ends, or a
monitor that scores a session before it closes, sees only its beginning. A model trained on complete
sessions alone has never seen such a session, and one that is still open can look like one that broke off:
on ``logs/hdfs`` the split orders sessions by first appearance, so the test part holds the youngest blocks,
and most of them had not been deleted when the log ends (the deletion events are missing from 63 % of test
sessions against 10 % of training ones).

:func:`add_normal_prefixes` adds, for a share of the *normal* training sessions, a copy cut at a moment drawn
uniformly between the session's first and last line: the lines logged by then, in their order. A block that
is normal is normal at every moment of its life, so the copy keeps the label. An anomalous session is never
cut: the moment its anomaly shows may lie after the cut. Cutting by time rather than by line count puts most
cuts where a session waits longest (an HDFS block between being written and being deleted), which is where a
log's end most often falls. Only the train part is touched; validation and test stay as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.data.logs.text import TextConfig, render_all


def add_normal_prefixes(train: pd.DataFrame, share: float, seed: int,
                        text: TextConfig = TextConfig()) -> tuple[pd.DataFrame, dict]:
    """``train`` with a time-cut copy of ``share`` of its normal sessions appended (chosen and cut with a
    generator seeded by ``seed``), and a summary of what was added. A copy's ``text`` column is rendered
    with ``text`` (the reading options' :meth:`~llmad.data.logs.options.LogOptions.masked_text`).

    Needs session windows (a ``times`` column: every line's place on the session clock); fixed and time
    windows are already pieces cut from a stream, so there is no session life to cut. A session is eligible
    when it is normal and its lines do not all share one time. Each copy gets a new ``window_id``, keeps its
    ``session``, and has ``prefix_of`` = the ``window_id`` it was cut from (``-1`` on the original rows).
    """
    if not 0 < share <= 1:
        raise LlmadError(f"the share of normal sessions to cut must be in (0, 1], got {share}")
    if "times" not in train.columns or "messages" not in train.columns:
        raise LlmadError("training on cut sessions needs session windows (--grouping session): fixed and time "
                         "windows are already pieces of a stream, with no session life to cut")
    labels = train["label"].to_numpy()
    times = [np.asarray(t, dtype=np.float64) for t in train["times"]]
    eligible = np.flatnonzero([lab == 0 and len(t) > 1 and t.max() > t.min() for lab, t in zip(labels, times)])
    rng = np.random.RandomState(seed)
    n = int(round(share * len(eligible)))
    chosen = np.sort(rng.choice(eligible, size=n, replace=False)) if n else np.zeros(0, dtype=int)
    rows = train.iloc[chosen].copy()
    msgs, cut_times, kept = [], [], []
    for i in chosen:
        t = times[i]
        moment = rng.uniform(t.min(), t.max())  # strictly before the last line: at least that line is cut
        keep = t <= moment
        msgs.append([m for m, k in zip(train["messages"].iloc[i], keep) if k])
        cut_times.append(t[keep].tolist())
        kept.append(int(keep.sum()))
    base = int(train["window_id"].max()) + 1 if len(train) else 0
    rows["prefix_of"] = rows["window_id"].to_numpy()
    rows["window_id"] = np.arange(base, base + len(rows))
    rows["messages"] = msgs
    rows["times"] = cut_times
    rows["n_lines"] = kept
    if "end" in rows.columns:
        rows["end"] = [max(t) for t in cut_times] if cut_times else []
    if "text" in rows.columns:
        rows["text"] = render_all(msgs, text)[0]
    out = pd.concat([train.assign(prefix_of=-1), rows], ignore_index=True)
    out.attrs = train.attrs
    full = [len(times[i]) for i in chosen]
    info = {"share": float(share), "added": int(len(rows)), "eligible": int(len(eligible)), "seed": int(seed),
            "lines_kept_median": float(np.median(kept)) if kept else None,
            "lines_of_original_median": float(np.median(full)) if full else None,
            "rule": "normal training sessions cut at a moment drawn uniformly between their first and last line"}
    return out, info
