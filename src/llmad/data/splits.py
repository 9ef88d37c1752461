"""Train / validation / test splits of a job table.

- ``run`` (default): every job of a run lands in one split; runs are split 80/10/10, stratified
  by run category, seeded. Honest: no run is seen at train and test time.
- ``paper``: the seed paper's job-level protocol (shuffle all jobs with ``random_state=42``,
  first 80 % train, next 10 % validation, last 10 % test). Jobs of one run end up on both
  sides, so it is **leaky** and reported as such.
- ``time``: runs ordered by start time; the earliest 80 % train, next 10 % validation, latest test.

Log datasets are split by their loader BEFORE lines are grouped into windows (so no window straddles
two parts); their table carries a ``part`` column and one of these split kinds:

- ``chrono``: lines in time order, the first 70 % (BGL: 80 %) train, next 10 % validation, rest test;
- ``session``: sessions (HDFS blocks) ordered by first appearance, cut the same way;
- ``stratified``: records without time order (Spirit's labelled templates), a seeded stratified cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmad import LlmadError

SPLITS = ("run", "paper", "time", "chrono", "session", "stratified")
PRECOMPUTED = ("chrono", "session", "stratified")
PARTS = ("train", "valid", "test")
LEAKY = {"paper": True, "run": False, "time": False, "chrono": False, "session": False, "stratified": False}
PROTOCOLS = {
    "run": "run split (no run in two parts)",
    "paper": "paper split (leaky: jobs of one run in train and test)",
    "time": "time split of runs (no run in two parts)",
    "chrono": "chronological split of lines before windowing (no window in two parts)",
    "session": "split of sessions by first appearance (no session in two parts)",
    "stratified": "stratified seeded split of template records",
}


@dataclass(frozen=True)
class SplitConfig:
    kind: str = "run"
    seed: int = 0
    train: float = 0.8
    valid: float = 0.1

    def __post_init__(self):
        if self.kind not in SPLITS:
            raise LlmadError(f"unknown split {self.kind!r}; choose one of {', '.join(SPLITS)}")
        if not (0 < self.train < 1 and 0 < self.valid < 1 and self.train + self.valid < 1):
            raise LlmadError("split fractions must satisfy 0 < train, valid and train + valid < 1")


def split(table: pd.DataFrame, cfg: SplitConfig | str = "run", seed: int | None = None) -> dict[str, pd.DataFrame]:
    """Return ``{"train": ..., "valid": ..., "test": ...}`` views of ``table`` (row order kept)."""
    if isinstance(cfg, str):
        cfg = SplitConfig(kind=cfg, seed=0 if seed is None else seed)
    elif seed is not None:
        cfg = SplitConfig(cfg.kind, seed, cfg.train, cfg.valid)
    given = table.attrs.get("split") if "part" in table.columns else None
    if given or cfg.kind in PRECOMPUTED:
        if cfg.kind != given:
            if given:
                raise LlmadError(f"this log dataset is split by its loader before windowing ({given!r}); "
                                 f"use --split {given}, not {cfg.kind!r}")
            raise LlmadError(f"a {cfg.kind!r} split is decided when a log dataset is loaded; "
                             "this table has no precomputed 'part' column")
        part = table["part"].to_numpy()
        return {p: table[part == p] for p in PARTS}
    if cfg.kind == "paper":
        idx = _paper_index(len(table), cfg)
        return {p: table.iloc[i] for p, i in idx.items()}
    runs = _run_parts(table, cfg)
    part_of = table["run_id"].astype(str).map(runs)
    return {p: table[(part_of == p).to_numpy()] for p in PARTS}


def _paper_index(n: int, cfg: SplitConfig) -> dict[str, np.ndarray]:
    # sklearn.utils.shuffle / DataFrame.sample(frac=1, random_state=42) both use this permutation.
    perm = np.random.RandomState(42).permutation(n)
    a, b = int(n * cfg.train), int(n * (cfg.train + cfg.valid))
    return {"train": perm[:a], "valid": perm[a:b], "test": perm[b:]}


def _run_parts(table: pd.DataFrame, cfg: SplitConfig) -> dict[str, str]:
    runs = table.groupby("run_id", observed=True).agg(
        category=("run_category", "first"), start=("run_start", "min")
    ).reset_index()
    runs["run_id"] = runs["run_id"].astype(str)
    runs["category"] = runs["category"].astype(str)
    if len(runs) < 3:
        raise LlmadError(f"a {cfg.kind!r} split needs at least 3 runs; this table has {len(runs)}")
    if cfg.kind == "time":
        runs = runs.sort_values(["start", "run_id"], kind="stable")
        n = len(runs)
        a = max(1, int(round(n * cfg.train)))
        b = max(a + 1, int(round(n * (cfg.train + cfg.valid))))
        b = min(b, n - 1)
        parts = ["train"] * a + ["valid"] * (b - a) + ["test"] * (n - b)
        return dict(zip(runs["run_id"], parts))
    # stratified by run category: within each category, shuffle (seeded) and cut 80/10/10,
    # keeping at least one run of the category in validation and test when it has 3 or more
    rng = np.random.RandomState(cfg.seed)
    out: dict[str, str] = {}
    for cat in sorted(runs["category"].unique()):
        ids = np.sort(runs.loc[runs["category"] == cat, "run_id"].to_numpy())
        ids = ids[rng.permutation(len(ids))]
        n = len(ids)
        n_test = int(round(n * (1 - cfg.train - cfg.valid)))
        n_valid = int(round(n * cfg.valid))
        if n >= 3:
            n_test, n_valid = max(1, n_test), max(1, n_valid)
        for r in ids[:n_test]:
            out[r] = "test"
        for r in ids[n_test:n_test + n_valid]:
            out[r] = "valid"
        for r in ids[n_test + n_valid:]:
            out[r] = "train"
    return out


def balanced_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of up to ``n // 2`` anomalous records (all of them when fewer) and normal ones for the rest,
    seeded: a sample in which a part with 1 % anomalies still holds enough of them to rank. Its F1 is not the
    part's (the class shares differ); its ROC-AUC estimates the part's."""
    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng(seed)
    bad, good = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    bad = rng.choice(bad, min(len(bad), n // 2), replace=False)
    good = rng.choice(good, min(len(good), n - len(bad)), replace=False)
    return np.sort(np.concatenate([bad, good]))


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` records with the class shares of ``labels`` (at least one of each class present)."""
    labels = np.asarray(labels).astype(int)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    out = []
    for k in np.unique(labels):
        ix = np.flatnonzero(labels == k)
        take = max(1, int(round(n * len(ix) / len(labels))))
        out.append(rng.choice(ix, size=min(take, len(ix)), replace=False))
    got = np.concatenate(out)
    if len(got) > n:  # rounding: trim from the largest class
        big = np.bincount(labels[got]).argmax()
        drop = rng.choice(np.flatnonzero(labels[got] == big), size=len(got) - n, replace=False)
        got = np.delete(got, drop)
    return np.sort(got)
