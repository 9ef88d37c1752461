"""An ensemble of trained detectors: one score from several models of the same data and split.

Models trained with different seeds disagree most on the rare records that decide a threshold (on
``logs/hdfs``, 12 normal sessions with a block replication); the mean of their log-odds is steadier than any
one of them. The members are trained first (``llmad train ... --seed S``), then combined
(``llmad ensemble A B C --out DIR``, :func:`llmad.runs.ensemble`): the ensemble's score is the mean of the
members' log-odds of "anomalous" (:meth:`llmad.detectors.base.Detector.log_odds`) and its threshold is chosen
on the validation part, like any detector's. Nothing is refitted, so a cv threshold does not apply.

Saved form: ``detector.json`` (detector ``ensemble``; ``state.members`` lists what each member is) and each
member's own folder under ``members/0``, ``members/1``, ... — no pickle, as for every detector.

A record that any language-model member read cut at its token budget is marked ``truncated``, as that member
alone would mark it (``llmad.runs.truncation_note`` names the members' ``--max-length``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.detectors.base import Detector, load_detector
from llmad.detectors.configs import EnsembleConfig

MEMBERS_DIR = "members"


class Ensemble(Detector):
    """The mean of trained detectors' log-odds (build with :meth:`of` or :func:`llmad.runs.ensemble`)."""

    name = "ensemble"
    Config = EnsembleConfig
    SCORES = "log-odds"

    def __init__(self, config: Any = None, members: list[Detector] | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.members_: list[Detector] = list(members or [])

    @classmethod
    def of(cls, members: list[Detector], config: Any = None, **overrides: Any) -> Ensemble:
        """An (unthresholded) ensemble of trained ``members``; ``fit(train, valid)`` then chooses its threshold."""
        return cls(config, members=members, **overrides)

    def clone(self) -> Ensemble:
        return type(self)(self.config, members=self.members_)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None, *, threshold: str = "valid",
            folds: int = 5, **fit_options: Any) -> Ensemble:
        """Check the members and choose the threshold on ``valid`` (the members are not refitted)."""
        if threshold != "valid":
            raise LlmadError("an ensemble's threshold is chosen on the validation part: its members are already "
                             "trained, and a cv threshold would have to train them again on every fold")
        fit_options = {k: v for k, v in fit_options.items() if k == "progress"}
        return super().fit(train, valid, threshold="valid", **fit_options)

    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None, progress=None) -> None:
        if len(self.members_) < 2:
            raise LlmadError("an ensemble needs at least two trained models: llmad ensemble MODEL MODEL ... --out DIR")
        for m in self.members_:
            m._check_fitted()
            if m.SCORES not in ("probability", "log-odds"):
                raise LlmadError(f"the {m.name} detector scores records by an order, not by probabilities or "
                                 "log-odds, so its scores cannot be averaged with others'")
        self.info_["members"] = [{"detector": m.name, "seed": getattr(m.config, "seed", None),
                                  "threshold": m.threshold_, "run": {k: m.run_.get(k) for k in ("seed", "command")}}
                                 for m in self.members_]

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        if not self.members_:
            raise LlmadError("ensemble detector is not fitted")
        scores = np.mean([m.log_odds(x) for m in self.members_], axis=0)
        # a record a member read cut at its token budget is marked, as that member would mark it alone
        cut = [m.details_.get("truncated") for m in self.members_]
        cut = [c for c in cut if c is not None and len(c) == len(scores)]
        self.details_ = {"truncated": np.any(cut, axis=0).tolist()} if cut else {}
        return scores

    def _save_state(self, path: Path) -> None:
        for i, m in enumerate(self.members_):
            m.save(path / MEMBERS_DIR / str(i))

    def _load_state(self, path: Path) -> None:
        n = len(self.info_.get("members") or [])
        if n < 2:
            raise LlmadError(f"{path}: an ensemble folder whose detector.json lists {n} members")
        folders = [path / MEMBERS_DIR / str(i) for i in range(n)]
        missing = [str(f.relative_to(path)) for f in folders if not f.is_dir()]
        if missing:
            raise LlmadError(f"{path}: incomplete ensemble folder, {', '.join(missing)} is missing (copy the folder "
                             "whole)")
        self.members_ = [load_detector(f) for f in folders]
