"""How well trained log models fit their own training windows that hold a rare pattern (train part only).

For each saved model, scores the windows of the model's own split (dataset and split read from the model) whose
messages match ``--pattern`` (a regular expression; default: HDFS block replication, ``ask <*> to replicate``),
and prints, per part and label, how many there are, their score range and how many sit on the anomalous side
of the model's threshold. The default reads only the train part: a training window of the normal class scored
above the threshold is one the model did not fit. No test label is read unless ``--parts`` asks for it.

    LLMAD_DATA_DIR=../shared/data python benchmarks/train_fit_by_pattern.py runs/hdfs62/s0/lm runs/hdfs62/s1/lm
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="Saved log models (llmad train --out).")
    ap.add_argument("--pattern", default=r"ask .* to replicate", help="Regex a window's message must match.")
    ap.add_argument("--parts", default="train", help="Comma-separated parts to read (default: train only).")
    ap.add_argument("--json", type=Path, help="Also write the rows to this JSON file.")
    args = ap.parse_args()

    from model_splits import ModelSplits

    pat = re.compile(args.pattern)
    rows, splits = [], ModelSplits()
    for model in args.models:
        det, prep = splits.load(model)
        parts = prep.parts
        for part in args.parts.split(","):
            table = parts[part]
            hit = np.array([any(pat.search(m) for m in ms) for ms in table["messages"]])
            sub = table[hit].reset_index(drop=True)
            sub.attrs = table.attrs
            if not len(sub):
                continue
            scores = det.decision_function(sub)
            y = sub["label"].to_numpy()
            for label in (0, 1):
                s = scores[y == label]
                if len(s):
                    rows.append({"model": str(model), "part": part, "label": label, "n": int(len(s)),
                                 "min": float(s.min()), "max": float(s.max()),
                                 "at_or_above_threshold": int((s >= det.threshold_).sum()),
                                 "threshold": float(det.threshold_)})
    print(f"windows matching {args.pattern!r}; score = the model's anomaly score")
    print(f"{'model':<28} {'part':<6} {'label':>5} {'n':>4} {'min':>8} {'max':>8} {'>= thr':>7} {'threshold':>9}")
    for r in rows:
        print(f"{r['model'][-28:]:<28} {r['part']:<6} {r['label']:>5} {r['n']:>4} {r['min']:>8.4f} {r['max']:>8.4f} "
              f"{r['at_or_above_threshold']:>7} {r['threshold']:>9.4f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
