"""Metrics of the anomaly class from scores, and the validation-chosen threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


def best_f1_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """Threshold (predict anomalous when score >= t) that maximises F1 on ``(y, scores)``.

    Call it on validation data only; the test set never chooses a threshold.
    """
    y = np.asarray(y).astype(int)
    s = np.asarray(scores, dtype="float64")
    if y.sum() == 0 or y.sum() == len(y):
        return float(np.median(s)) if len(s) else 0.5
    from sklearn.metrics import precision_recall_curve  # imported here: the CLI starts without scikit-learn

    prec, rec, thr = precision_recall_curve(y, s)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)[:-1]
    return float(thr[int(np.argmax(f1))])


@dataclass
class Metrics:
    f1: float
    precision: float
    recall: float
    accuracy: float
    roc_auc: float | None
    pr_auc: float | None
    n: int
    n_anomalous: int
    threshold: float
    confusion: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def compute(y: np.ndarray, scores: np.ndarray, threshold: float) -> Metrics:
    """Precision/recall/F1 of the anomaly class at ``threshold``, plus ROC-AUC and PR-AUC from scores."""
    y = np.asarray(y).astype(int)
    s = np.asarray(scores, dtype="float64")
    pred = (s >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = 0 < y.sum() < len(y)
    from sklearn.metrics import average_precision_score, roc_auc_score

    return Metrics(
        f1=f1, precision=precision, recall=recall,
        accuracy=(tp + tn) / len(y) if len(y) else 0.0,
        roc_auc=float(roc_auc_score(y, s)) if both else None,
        pr_auc=float(average_precision_score(y, s)) if both else None,
        n=int(len(y)), n_anomalous=int(y.sum()), threshold=float(threshold),
        confusion={"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    )


def oracle(y: np.ndarray, scores: np.ndarray, part: str = "test") -> dict:
    """The best F1 any threshold reaches on the evaluated part itself: an ORACLE, never a result.

    Reported beside the validation-threshold figures so a reader sees how much of a low F1 is ranking
    (this is low too) and how much is a threshold that did not transfer (this is high)."""
    y = np.asarray(y).astype(int)
    t = best_f1_threshold(y, scores)
    m = compute(y, scores, t)
    return {"f1": m.f1, "precision": m.precision, "recall": m.recall, "threshold": t,
            "note": f"oracle: threshold chosen on the {part} part itself (not a valid estimate)"}


def type_metrics(y: np.ndarray, pred: np.ndarray, names: tuple[str, ...]) -> dict:
    """Multi-class report: macro-F1, per-class precision / recall / F1 / support, confusion matrix
    (rows = true class, columns = predicted, in the order of ``names``)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(names)))
    p, r, f, n = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    present = n > 0
    return {"macro_f1": float(f[present].mean()) if present.any() else 0.0,
            "accuracy": float(np.mean(np.asarray(y) == np.asarray(pred))) if len(y) else 0.0,
            "classes": list(names),
            "per_class": {names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                     "support": int(n[i])} for i in labels},
            "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
            "note": "macro-F1 over the classes present in the data; confusion rows = true, columns = predicted"}
