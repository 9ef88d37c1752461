"""The detector protocol, PyOD / scikit-learn style.

A detector writes ``_fit(train)`` and ``decision_function(x)`` (higher = more anomalous);
the base class owns the validation threshold, ``predict``, ``predict_proba`` and saving.
Saved state is JSON (+ safetensors or a library's own text format); never pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from llmad import LlmadError, __version__
from llmad.eval.metrics import best_f1_threshold

CONFIG_FILE = "detector.json"


class Detector:
    name: ClassVar[str] = "base"

    def __init__(self, **params: Any):
        self.params = params
        self.threshold_: float | None = None
        self.info_: dict = {}

    # -- to implement ------------------------------------------------------------------------
    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None) -> None:
        raise NotImplementedError

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _save_state(self, path: Path) -> None:
        raise NotImplementedError

    def _load_state(self, path: Path) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Detector:
        """Fit on ``train``; choose ``threshold_`` by max F1 on ``valid`` (or train if none)."""
        if len(train) == 0:
            raise LlmadError("cannot fit on an empty training set")
        self._fit(train, valid)
        tune = valid if valid is not None and len(valid) else train
        self.threshold_ = best_f1_threshold(tune["label"].to_numpy(), self.decision_function(tune))
        self.info_["threshold_from"] = "valid" if tune is valid else "train"
        return self

    def _check_fitted(self) -> None:
        if self.threshold_ is None:
            raise LlmadError(f"{self.name} detector is not fitted")

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return (self.decision_function(x) >= self.threshold_).astype(int)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """(n, 2) array: [P(normal), P(anomalous)]; a logistic squash centred on the threshold."""
        self._check_fitted()
        s = self.decision_function(x)
        scale = float(self.info_.get("score_scale") or 1.0)
        p = 1.0 / (1.0 + np.exp(-(s - self.threshold_) / scale))
        return np.stack([1 - p, p], axis=1)

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_state(path)
        cfg = {"detector": self.name, "params": self.params, "threshold": self.threshold_,
               "info": self.info_, "llmad_version": __version__}
        (path / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, default=str))
        return path


def load_detector(path: str | Path) -> Detector:
    """Load any saved detector from its folder (JSON config + weights)."""
    from llmad.detectors.registry import DETECTORS

    path = Path(path)
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise LlmadError(f"{path}: not a saved llmad detector (no {CONFIG_FILE})")
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise LlmadError(f"{cfg_file}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    cls = DETECTORS.get(cfg.get("detector"))
    if cls is None:
        raise LlmadError(f"{cfg_file}: unknown detector {cfg.get('detector')!r}")
    det = cls(**cfg.get("params", {}))
    det.threshold_ = cfg["threshold"]
    det.info_ = cfg.get("info", {})
    det._load_state(path)
    return det
