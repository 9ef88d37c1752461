"""``tfidf``: TF-IDF of a record's text + logistic regression (the text baseline for logs).

Reads its input through the text layer (:mod:`llmad.text.layer`): log windows, or job records through
a template (Flow-Bench). Word unigrams and
bigrams (``<*>`` is a token), sublinear term frequency, ``class_weight="balanced"``, seeded.
``tune="valid"`` instead picks those settings and the regularisation from the validation part (:data:`GRID`).
Saved without pickle: the vocabulary in JSON, idf / coefficients / intercept in safetensors;
loading rebuilds the vectoriser with that vocabulary and idf and scores with the stored weights.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from llmad import LlmadError
from llmad.detectors.base import Detector
from llmad.detectors.configs import TfidfConfig

TOKEN_PATTERN = r"<\*>|[A-Za-z_][A-Za-z0-9_.$\-]*"
#: the settings ``tune="valid"`` tries, in this order (the first wins an exact tie)
GRID = tuple({"tf": tf, "class_weight": cw, "C": c, "ngram_max": n}
             for tf in ("sublinear", "raw") for cw in ("balanced", "none")
             for c in (0.1, 1.0, 10.0, 100.0) for n in (1, 2, 3))
TUNE_RULE = "best validation F1 (max over thresholds), ties broken by the lower validation log-loss"


def log_loss(y: np.ndarray, log_odds: np.ndarray) -> float:
    """Mean negative log-likelihood of 0/1 labels under sigmoid(log_odds), computed stably."""
    s = np.asarray(log_odds, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, np.where(np.asarray(y) == 1, -s, s))))


class TfidfLR(Detector):
    """TF-IDF + logistic regression on the text of each record."""

    name = "tfidf"
    FILES = ("tfidf_vocabulary.json", "tfidf.safetensors")
    SCORES = "log-odds"  # of the logistic regression
    Config = TfidfConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.vectorizer_ = None
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0

    def _vectorizer(self, vocabulary=None, config: TfidfConfig | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        c = config or self.config
        return TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, ngram_range=(1, c.ngram_max),
                               min_df=1 if vocabulary is not None else c.min_df,
                               max_features=None if vocabulary is not None else c.max_features,
                               sublinear_tf=c.tf == "sublinear", use_idf=c.idf, vocabulary=vocabulary,
                               dtype=np.float64)

    def _fit(self, train, valid, progress=None):
        y = train["label"].to_numpy().astype(int)
        if len(np.unique(y)) < 2:
            raise LlmadError(f"tfidf needs both classes in the training part; it has only label {y[0]} "
                             f"({len(y)} records)")
        self._fit_text(train)
        texts = self._texts(train)
        if self.config.tune == "valid":
            self._tune(texts, y, valid, progress)
            return
        self.vectorizer_, X = self._vectorize(texts, self.config)
        self.coef_, self.intercept_ = self._logistic(X, y, self.config)
        self.info_["vocabulary_size"] = int(X.shape[1])

    def _vectorize(self, texts: list[str], c: TfidfConfig):
        vec = self._vectorizer(config=c)
        try:
            return vec, vec.fit_transform(texts)
        except ValueError as e:
            raise LlmadError(f"tfidf: no usable tokens in the training texts ({e})") from None

    @staticmethod
    def _logistic(X, y: np.ndarray, c: TfidfConfig) -> tuple[np.ndarray, float]:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=c.C, max_iter=2000, class_weight="balanced" if c.class_weight == "balanced" else None,
                                 solver="liblinear", random_state=c.seed)
        clf.fit(X, y)
        return clf.coef_.ravel().astype(np.float64), float(clf.intercept_[0])

    def _tune(self, texts: list[str], y: np.ndarray, valid, progress=None) -> None:
        """Fit every setting of :data:`GRID` on the train texts, score the validation part, keep the model of the
        setting :data:`TUNE_RULE` prefers (its setting as ``self.config``) and the whole table in ``info_["tuned"]``."""
        from llmad.eval.metrics import best_f1_threshold, compute

        yv = None if valid is None else valid["label"].to_numpy().astype(int)
        if yv is None or not 0 < yv.sum() < len(yv):
            raise LlmadError("tfidf --tune valid picks its setting on the validation part, which needs records of "
                             "both classes (with the cv threshold the folds have none: use --threshold valid)")
        valid_texts = self._texts(valid)
        rows, fits, matrices = [], [], {}
        for i, setting in enumerate(GRID):
            c = replace(self.config, **setting)
            key = (c.tf, c.ngram_max)
            if key not in matrices:
                vec, X = self._vectorize(texts, c)
                matrices[key] = (vec, X, vec.transform(valid_texts))
            vec, X, Xv = matrices[key]
            coef, intercept = self._logistic(X, y, c)
            fits.append((vec, coef, intercept, X.shape[1]))
            sv = np.asarray(Xv @ coef + intercept, dtype=np.float64).ravel()
            rows.append({**setting, "valid_f1": compute(yv, sv, best_f1_threshold(yv, sv)).f1,
                         "valid_log_loss": log_loss(yv, sv)})
            if progress:
                progress(i + 1, len(GRID))
        best = min(range(len(rows)), key=lambda i: (-rows[i]["valid_f1"], rows[i]["valid_log_loss"], i))
        self.config = replace(self.config, **GRID[best])
        self.vectorizer_, self.coef_, self.intercept_, n_terms = fits[best]
        self.info_["vocabulary_size"] = int(n_terms)
        self.info_["tuned"] = {"rule": TUNE_RULE, "picked": dict(GRID[best]), "n_valid": int(len(yv)),
                               "valid_anomalous": int(yv.sum()), "grid": rows}

    def decision_function(self, x):
        if self.vectorizer_ is None or self.coef_ is None:
            raise LlmadError("tfidf detector is not fitted")
        X = self.vectorizer_.transform(self._texts(x))
        return np.asarray(X @ self.coef_ + self.intercept_, dtype=np.float64).ravel()

    def _save_state(self, path: Path):
        vocab = {t: int(i) for t, i in self.vectorizer_.vocabulary_.items()}
        (path / "tfidf_vocabulary.json").write_text(json.dumps(vocab, ensure_ascii=False))
        idf = self.vectorizer_.idf_ if self.config.idf else np.ones(len(vocab))
        save_file({"idf": np.ascontiguousarray(idf), "coef": np.ascontiguousarray(self.coef_),
                   "intercept": np.array([self.intercept_])}, str(path / "tfidf.safetensors"))

    def _load_state(self, path: Path):
        vf = path / "tfidf_vocabulary.json"
        try:
            vocab = json.loads(vf.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise LlmadError(f"{vf}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
        t = load_file(str(path / "tfidf.safetensors"))
        if len(t["idf"]) != len(vocab) or len(t["coef"]) != len(vocab):
            raise LlmadError(f"{path}: vocabulary and weights disagree in size")
        self.vectorizer_ = self._vectorizer(vocabulary=vocab)
        self.vectorizer_.fit([""])  # sets the fixed vocabulary; idf is replaced next
        if self.config.idf:
            self.vectorizer_.idf_ = t["idf"]
        self.coef_ = t["coef"]
        self.intercept_ = float(t["intercept"][0])
