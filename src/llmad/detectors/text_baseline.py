"""``tfidf``: TF-IDF of a record's text + logistic regression (the text baseline for logs).

Reads its input through the text layer (:mod:`llmad.text.layer`): log windows, or job records through
a template (Flow-Bench). Word unigrams and
bigrams (``<*>`` is a token), sublinear term frequency, ``class_weight="balanced"``, seeded.
Saved without pickle: the vocabulary in JSON, idf / coefficients / intercept in safetensors;
loading rebuilds the vectoriser with that vocabulary and idf and scores with the stored weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from llmad import LlmadError
from llmad.detectors.base import Detector
from llmad.detectors.configs import TfidfConfig

TOKEN_PATTERN = r"<\*>|[A-Za-z_][A-Za-z0-9_.$\-]*"


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

    def _vectorizer(self, vocabulary=None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        c = self.config
        return TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, ngram_range=(1, c.ngram_max),
                               min_df=1 if vocabulary is not None else c.min_df,
                               max_features=None if vocabulary is not None else c.max_features,
                               sublinear_tf=c.tf == "sublinear", use_idf=c.idf, vocabulary=vocabulary,
                               dtype=np.float64)

    def _fit(self, train, valid, progress=None):
        from sklearn.linear_model import LogisticRegression

        y = train["label"].to_numpy().astype(int)
        if len(np.unique(y)) < 2:
            raise LlmadError(f"tfidf needs both classes in the training part; it has only label {y[0]} "
                             f"({len(y)} records)")
        self._fit_text(train)
        self.vectorizer_ = self._vectorizer()
        try:
            X = self.vectorizer_.fit_transform(self._texts(train))
        except ValueError as e:
            raise LlmadError(f"tfidf: no usable tokens in the training texts ({e})") from None
        clf = LogisticRegression(C=self.config.C, max_iter=2000,
                                 class_weight="balanced" if self.config.class_weight == "balanced" else None,
                                 solver="liblinear", random_state=self.config.seed)
        clf.fit(X, y)
        self.coef_ = clf.coef_.ravel().astype(np.float64)
        self.intercept_ = float(clf.intercept_[0])
        self.info_["vocabulary_size"] = int(X.shape[1])

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
