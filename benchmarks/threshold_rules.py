"""What other threshold rules would give a saved model, and how a pattern's absence shifts between the parts.

A DIAGNOSTIC that reads test labels: it changes no model and chooses nothing. For each saved model it scores the
train, validation and test parts of the model's own split and prints the test F1 under three rules:
- ``valid``: max F1 on the validation scores (the default rule of ``llmad train``);
- ``train+valid``: max F1 on the final model's own scores of train + validation (in-sample for train);
- ``gap midpoint``: the middle of the widest score interval that separates validation's classes, when they are
  separated, else the ``valid`` threshold;
then the test oracle (threshold chosen on test: not a result). ``--lacking REGEX`` also counts, per part and label,
the windows none of whose messages match the expression (default: HDFS's deletion event).

    LLMAD_DATA_DIR=../shared/data python benchmarks/threshold_rules.py runs/hdfs90/s0/lm runs/hdfs90/s1/lm
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np


def gap_midpoint(y: np.ndarray, s: np.ndarray) -> float | None:
    """Middle of the interval between the highest-scoring normal and the lowest-scoring anomaly, if that is a gap."""
    hi_normal, lo_anomaly = s[y == 0].max(), s[y == 1].min()
    return float((hi_normal + lo_anomaly) / 2) if hi_normal < lo_anomaly else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="Saved log or workflow models (llmad train --out).")
    ap.add_argument("--lacking", default=r"NameSystem\.delete: .* invalidSet",
                    help="Count windows with no message matching this regex ('' to skip; log models only).")
    args = ap.parse_args()

    from model_splits import ModelSplits

    from llmad.eval.metrics import best_f1_threshold, compute

    pat = re.compile(args.lacking) if args.lacking else None
    splits = ModelSplits()
    for model in args.models:
        det, prep = splits.load(model)
        parts = prep.parts
        y = {p: parts[p]["label"].to_numpy().astype(int) for p in ("train", "valid", "test")}
        s = {p: np.asarray(det.decision_function(parts[p]), dtype="float64") for p in ("train", "valid", "test")}
        rules = {"valid": best_f1_threshold(y["valid"], s["valid"]),
                 "train+valid": best_f1_threshold(np.concatenate([y["train"], y["valid"]]),
                                                  np.concatenate([s["train"], s["valid"]]))}
        mid = gap_midpoint(y["valid"], s["valid"])
        rules["gap midpoint"] = mid if mid is not None else rules["valid"]
        print(f"{model}  (saved threshold {det.threshold_:.5f})")
        for name, t in rules.items():
            m = compute(y["test"], s["test"], t)
            print(f"  {name:<13} threshold {t:.5f}  test F1 {m.f1:.3f}  {m.confusion}")
        o = best_f1_threshold(y["test"], s["test"])
        print(f"  {'test oracle':<13} threshold {o:.5f}  test F1 {compute(y['test'], s['test'], o).f1:.3f}  "
              "(chosen on test: not a result)")
        if pat is not None and "messages" in parts["test"].columns:
            for p in ("train", "valid", "test"):
                lack = np.array([not any(pat.search(m) for m in ms) for ms in parts[p]["messages"]])
                print(f"  {p:<6} windows lacking {args.lacking!r}: {int(lack.sum()):,} of {len(lack):,} "
                      f"(anomalous {int(y[p][lack].sum())} of {int(y[p].sum())})")


if __name__ == "__main__":
    main()
