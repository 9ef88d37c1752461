"""Non-LLM baselines on the numeric job features.

- ``gbdt``: LightGBM gradient-boosted trees (supervised). Saved in LightGBM's own text format.
- ``iforest``: PyOD Isolation Forest (unsupervised; labels are only used for the threshold).
  Saved as the training matrix (safetensors) + seed; loading refits, which is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from llmad import LlmadError
from llmad.data.flowbench import PAPER_FEATURES, assert_no_banned, check_numeric, feature_columns
from llmad.detectors.base import Detector
from llmad.detectors.configs import GBDTConfig, IForestConfig


class _NumericDetector(Detector):
    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.columns_: list[str] = []

    def _matrix(self, x: pd.DataFrame) -> np.ndarray:
        x = self._contextual(x)
        missing = [c for c in self.columns_ if c not in x.columns]
        if missing:
            raise LlmadError(f"records lack feature column(s) {missing}")
        assert_no_banned(self.columns_)
        x = x[self.columns_].copy()
        check_numeric(x, self.columns_, "records")
        return x.to_numpy(dtype="float64")

    def _select(self, train: pd.DataFrame) -> None:
        f = self.config.features
        self.columns_ = list(f) if isinstance(f, tuple) else feature_columns(train, f)
        assert_no_banned(self.columns_)
        self._fit_context(train, any(c.startswith("ctx_") for c in self.columns_))
        self.info_["columns"] = self.columns_

    def _restore_columns(self) -> None:
        self.columns_ = list(self.info_.get("columns", PAPER_FEATURES))


class GBDT(_NumericDetector):
    """Gradient-boosted trees (LightGBM) on the numeric features."""

    name = "gbdt"
    FILES = ("gbdt.txt",)
    SCORES = "probability"
    Config = GBDTConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.booster_ = None

    def _fit(self, train, valid, progress=None):
        import lightgbm as lgb

        from llmad.threads import lightgbm_threads

        self._select(train)
        c = self.config
        y = self._labels(train)
        params = {
            "objective": "binary", "learning_rate": c.learning_rate, "num_leaves": c.num_leaves,
            "seed": c.seed, "deterministic": True, "force_row_wise": True,
            "num_threads": lightgbm_threads(len(train)), "verbosity": -1,
        }
        if c.target == "type":
            params.update(objective="multiclass", num_class=3)
        callbacks = []
        if progress is not None:
            def report(env):
                progress(env.iteration + 1, c.n_estimators)
            callbacks.append(report)
        ds = lgb.Dataset(self._matrix(train), label=y, feature_name=self.columns_)
        self.booster_ = lgb.train(params, ds, num_boost_round=c.n_estimators, callbacks=callbacks)
        self.info_["threads"] = params["num_threads"]

    def _raw(self, x):
        if self.booster_ is None:
            raise LlmadError("gbdt detector is not fitted")
        return self.booster_.predict(self._matrix(x))

    def decision_function(self, x):
        p = self._raw(x)
        return 1.0 - p[:, 0] if p.ndim == 2 else p  # a type model: P(not normal)

    def log_odds(self, x):
        """Exact log-odds from the trees' raw margins (a probability near 0 or 1 loses digits)."""
        if self.booster_ is None:
            raise LlmadError("gbdt detector is not fitted")
        z = np.asarray(self.booster_.predict(self._matrix(x), raw_score=True), dtype=np.float64)
        if z.ndim == 1:
            return z
        return _logsumexp(z[:, 1:]) - z[:, 0]  # a type model: log P(not normal) - log P(normal)

    def _type_proba(self, x):
        return self._raw(x)

    def _save_state(self, path: Path):
        self.booster_.save_model(str(path / "gbdt.txt"))

    def _load_state(self, path: Path):
        import lightgbm as lgb

        self._restore_columns()
        self.booster_ = lgb.Booster(model_file=str(path / "gbdt.txt"))


class IForest(_NumericDetector):
    """PyOD Isolation Forest on log-scaled, median-imputed numeric features."""

    name = "iforest"
    FILES = ("iforest.safetensors",)
    Config = IForestConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.model_ = None
        self.train_x_: np.ndarray | None = None
        self.medians_: np.ndarray | None = None

    def _prep(self, m: np.ndarray) -> np.ndarray:
        m = np.where(np.isnan(m), self.medians_, m)
        return np.sign(m) * np.log1p(np.abs(m))

    def _fit(self, train, valid, progress=None):
        self._select(train)
        m = self._matrix(train)
        n = self.config.max_train
        if n and len(m) > n:
            rows = np.random.RandomState(self.config.seed).choice(len(m), n, replace=False)
            m = m[np.sort(rows)]
        med = np.nanmedian(m, axis=0)
        self.medians_ = np.where(np.isnan(med), 0.0, med)
        self.train_x_ = m
        self._refit()

    def _refit(self):
        from pyod.models.iforest import IForest as PyodIForest

        self.model_ = PyodIForest(n_estimators=self.config.n_estimators, random_state=self.config.seed, n_jobs=1)
        self.model_.fit(self._prep(self.train_x_))

    def decision_function(self, x):
        if self.model_ is None:
            raise LlmadError("iforest detector is not fitted")
        return self.model_.decision_function(self._prep(self._matrix(x)))

    def _save_state(self, path: Path):
        save_file({"train_x": np.ascontiguousarray(self.train_x_), "medians": np.ascontiguousarray(self.medians_)},
                  str(path / "iforest.safetensors"))

    def _load_state(self, path: Path):
        self._restore_columns()
        t = load_file(str(path / "iforest.safetensors"))
        self.train_x_, self.medians_ = t["train_x"], t["medians"]
        self._refit()


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))
