"""Which TF-IDF setting would a rule that reads only the validation part pick on the log slices?

The four settings are term frequency (sublinear, raw) x class weights (balanced, none). On HDFS every one
separates the validation classes perfectly, so validation F1 cannot choose; the rule here breaks F1 ties by
the validation log-loss (a proper scoring rule, as ``--monitor f1-loss`` does for the language model). The
test columns are printed for every setting so a reader sees what the choice costs; only the ``picked``
column follows from the rule, and no test figure enters it.

    LLMAD_DATA_DIR=../shared/data python benchmarks/tfidf_selection.py [--seed 0]   # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from llmad import __version__, runs
from llmad.data.logs.options import LogOptions
from llmad.eval.metrics import compute

#: each slice with the text it is measured on in the README ("Text modes, fields and thresholds")
CASES = {"logs/hdfs": {"text": "ids"}, "logs/bgl": {"fields": "Component,Level"},
         "logs/thunderbird": {"text": "ids"}}
SETTINGS = [{"tf": tf, "class_weight": cw} for tf in ("sublinear", "raw") for cw in ("balanced", "none")]


def log_loss(y: np.ndarray, log_odds: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels under the probabilities sigmoid(log_odds), computed stably."""
    s = np.asarray(log_odds, float)
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -s, s))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for dataset, opts in CASES.items():
        prep = runs.prepare(dataset, log_options=LogOptions(**opts), seed=args.seed)
        valid = prep.part("valid")
        rows = []
        for setting in SETTINGS:
            det = runs.train(prep, "tfidf", {**setting, "seed": args.seed}).detector
            yv = valid["label"].to_numpy(int)
            sv = np.asarray(det.decision_function(valid), float)
            mv = compute(yv, sv, det.threshold_)
            mt = runs.evaluate(det, prep)
            rows.append({"dataset": dataset, **opts, **setting, "valid_f1": round(mv.f1, 4),
                         "valid_log_loss": round(log_loss(yv, sv), 5), "test_f1": round(mt["f1"], 4),
                         "test_roc_auc": round(mt["roc_auc"], 4), "seed": args.seed, "llmad": __version__})
        best = max(rows, key=lambda r: (r["valid_f1"], -r["valid_log_loss"]))
        for r in rows:
            print(json.dumps({**r, "picked": r is best}), flush=True)


if __name__ == "__main__":
    main()
