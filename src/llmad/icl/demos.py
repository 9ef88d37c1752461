"""Choosing demonstrations for few-shot prompts, from the training part only.

- ``random``: ``shots`` training records drawn at random (seeded), the same for every query.
- ``stratified``: the same, with the classes balanced (half Normal, half Abnormal, the extra one Normal).
- ``knn``: for each query, the ``shots`` nearest training records by cosine similarity of their embeddings
  (the packaged MiniLM, mean-pooled), from a seeded stratified pool of ``pool`` training records, with at
  least one of each class. The ids of every demonstration used are kept (saved with the model for the
  fixed kinds; written per record by ``detect`` for ``knn``).
"""

from __future__ import annotations

import numpy as np

from llmad import LlmadError
from llmad.data.splits import stratified_sample

DEMOS = ("random", "stratified", "knn")


def fixed_demos(labels: np.ndarray, shots: int, kind: str, seed: int) -> np.ndarray:
    """Indices (into the training part) of the demonstrations shared by every query."""
    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.choice(len(labels), size=min(shots, len(labels)), replace=False)
    if kind != "stratified":
        raise LlmadError(f"unknown demonstration choice {kind!r}; choose {', '.join(DEMOS)}")
    n_anom = shots // 2
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(pos) < n_anom or len(neg) < shots - n_anom:
        raise LlmadError(f"{shots} stratified demonstrations need {n_anom} anomalous and {shots - n_anom} normal "
                         "training records")
    got = np.concatenate([rng.choice(neg, shots - n_anom, replace=False), rng.choice(pos, n_anom, replace=False)])
    return got[rng.permutation(len(got))]


def balanced_anchors(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` training records, half of each class where the rarer class allows (kNN prompting's
    anchors); the rest from the other class."""
    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(pos) == 0 or len(neg) == 0:
        raise LlmadError("kNN prompting needs training records of both classes as anchors")
    n = min(n, len(labels))
    n_pos = min(len(pos), max(1, n // 2))
    n_neg = min(len(neg), n - n_pos)
    n_pos = min(len(pos), n - n_neg)
    got = np.concatenate([rng.choice(neg, n_neg, replace=False), rng.choice(pos, n_pos, replace=False)])
    return got[rng.permutation(len(got))]


def knn_vote(dists: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Anomaly score of each query row of ``dists`` (queries x anchors, smaller is nearer): the share of
    anomalous anchors among its ``k`` nearest, each weighted by ``exp(-(d - nearest d) / median d of the k)``,
    so that ties between equal votes are broken by how near the anchors are."""
    labels = np.asarray(labels, dtype="float64")
    k = min(k, dists.shape[1])
    ix = np.argpartition(dists, k - 1, axis=1)[:, :k]
    d = np.take_along_axis(dists, ix, axis=1)
    scale = np.maximum(np.median(d, axis=1, keepdims=True), 1e-12)
    w = np.exp(-(d - d.min(axis=1, keepdims=True)) / scale)
    return (w * labels[ix]).sum(axis=1) / w.sum(axis=1)


class Embedder:
    """Mean-pooled, normalised MiniLM sentence embeddings (the packaged ``minilm``)."""

    def __init__(self, model: str = "minilm", max_length: int = 128):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from llmad.models.backbones import materialise, resolve

        path = materialise(resolve(model))
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.max_length = max_length
        self._torch = torch

    def __call__(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.tok(texts[i:i + batch_size], padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
                h = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).float()
                v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), dtype="float32")


def knn_pool(labels: np.ndarray, pool: int, seed: int) -> np.ndarray:
    return stratified_sample(labels, pool, seed)


def nearest(query_vecs: np.ndarray, pool_vecs: np.ndarray, pool_labels: np.ndarray, shots: int) -> np.ndarray:
    """(n, shots) pool indices: the most similar first, with at least one of each class present in the pool
    (the best of the missing class replaces the last pick). Ordered so the most similar comes last, nearest
    the query."""
    sims = query_vecs @ pool_vecs.T
    order = np.argsort(-sims, axis=1)
    pool_labels = np.asarray(pool_labels).astype(int)
    classes = np.unique(pool_labels)
    picks = order[:, :shots].copy()
    if shots >= 2 and len(classes) == 2:
        for i in range(len(picks)):
            have = set(pool_labels[picks[i]])
            for k in classes:
                if k not in have:
                    best = next(j for j in order[i] if pool_labels[j] == k)
                    picks[i, -1] = best
    return picks[:, ::-1]
