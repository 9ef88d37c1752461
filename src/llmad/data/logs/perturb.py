"""Unstable-log perturbations, for the TEST part only (robustness studies).

Named and seeded, after the unstable-log literature (LogRobust; Lim et al., PAKDD'25):

- ``insert_words``: into each message insert ``ceil(ratio * n_words)`` random words (drawn from the
  vocabulary of the windows being perturbed) at random positions — changed log statements;
- ``drop_events``: each event is removed with probability ``ratio`` (a window keeps at least one);
- ``duplicate_events``: each event is repeated with probability ``ratio``;
- ``shuffle_events``: ``ceil(ratio * n)`` events of each window change places among themselves.

The same ``(kind, ratio, seed)`` always gives the same result; window order does not matter
because each window draws from a generator seeded by ``(seed, window_id)``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.data.logs.text import TextConfig, render_all

KINDS = ("insert_words", "drop_events", "duplicate_events", "shuffle_events")


@dataclass(frozen=True)
class Perturbation:
    kind: str
    ratio: float = 0.1
    seed: int = 0

    def __post_init__(self):
        from llmad.data.perturb_records import RECORD_KINDS

        if self.kind not in KINDS + RECORD_KINDS:
            raise LlmadError(f"unknown perturbation {self.kind!r}; choose one of {', '.join(KINDS)} (log windows) "
                             f"or {', '.join(RECORD_KINDS)} (job records)")
        if not 0 <= self.ratio <= 1:
            raise LlmadError(f"perturbation ratio must be in [0, 1], got {self.ratio}")

    @property
    def for_records(self) -> bool:
        from llmad.data.perturb_records import RECORD_KINDS

        return self.kind in RECORD_KINDS

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.ratio:g}/seed{self.seed}"


def _rng(seed: int, key) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(str(key).encode())])


def perturb_messages(messages: list[str], p: Perturbation, rng: np.random.Generator,
                     vocab: list[str]) -> list[str]:
    msgs = list(messages)
    if p.ratio == 0 or not msgs:
        return msgs
    if p.kind == "insert_words":
        out = []
        for m in msgs:
            words = m.split(" ")
            k = math.ceil(p.ratio * len(words))
            for _ in range(k):
                words.insert(int(rng.integers(0, len(words) + 1)), vocab[int(rng.integers(0, len(vocab)))])
            out.append(" ".join(words))
        return out
    if p.kind == "drop_events":
        keep = rng.random(len(msgs)) >= p.ratio
        if not keep.any():
            keep[int(rng.integers(0, len(msgs)))] = True
        return [m for m, k in zip(msgs, keep) if k]
    if p.kind == "duplicate_events":
        dup = rng.random(len(msgs)) < p.ratio
        out = []
        for m, d in zip(msgs, dup):
            out.append(m)
            if d:
                out.append(m)
        return out
    # shuffle_events
    k = min(len(msgs), math.ceil(p.ratio * len(msgs)))
    if k < 2:
        return msgs
    pos = np.sort(rng.choice(len(msgs), size=k, replace=False))
    moved = rng.permutation(pos)
    out = list(msgs)
    for dst, src in zip(pos, moved):
        out[dst] = msgs[src]
    return out


def perturb(windows: pd.DataFrame, p: Perturbation, text: TextConfig | None = None) -> pd.DataFrame:
    """A perturbed copy of a windows table (``messages`` and ``text`` rewritten; labels unchanged).

    Refuses train / validation windows: perturbations model unstable logs seen only at test time.
    """
    if "messages" not in windows.columns:
        raise LlmadError("perturbations need a windows table with a 'messages' column (a log dataset)")
    if p.for_records:
        raise LlmadError(f"{p.kind} perturbs job records; log windows take {', '.join(KINDS)}")
    if "part" in windows.columns and (windows["part"] != "test").any():
        raise LlmadError("perturbations apply to the test part only; pass split(table)['test']")
    vocab = sorted({w for msgs in windows["messages"] for m in msgs for w in m.split() if w.isalpha()})
    if p.kind == "insert_words" and not vocab:
        raise LlmadError("no words to insert: the windows have no alphabetic words")
    out = windows.copy()
    new = [perturb_messages(list(msgs), p, _rng(p.seed, wid), vocab)
           for wid, msgs in zip(windows["window_id"], windows["messages"])]
    out["messages"] = new
    out["n_events"] = [len(m) for m in new]
    texts, _ = render_all(new, text or TextConfig())
    out["text"] = texts
    out.attrs = {**windows.attrs, "perturbation": p.name}
    return out
