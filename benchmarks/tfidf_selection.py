"""Which TF-IDF setting would a rule that reads only the validation part pick on the log slices?

The four settings are term frequency (sublinear, raw) x class weights (balanced, none). On HDFS every one
separates the validation classes perfectly, so validation F1 cannot choose; the rule here breaks F1 ties by
the validation log-loss (a proper scoring rule, as ``--monitor f1-loss`` does for the language model). The
test columns are printed for every setting so a reader sees what the choice costs; only the ``picked``
column follows from the rule, and no test figure enters it.

``--grid wide`` applies the same rule to the 48 settings of ``llmad train --detector tfidf --tune valid``
(:data:`llmad.detectors.text_baseline.GRID`: also C 0.1/1/10/100 and n-grams up to 1/2/3); the ``picked`` row
is then the one that option keeps, and a last line per dataset gives that detector's own test figures.

    LLMAD_DATA_DIR=../shared/data python benchmarks/tfidf_selection.py [--seed 0]   # about a minute on 2 cores
    LLMAD_DATA_DIR=../shared/data python benchmarks/tfidf_selection.py --grid wide  # about 5 minutes
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from llmad import __version__, runs
from llmad.data.logs.options import LogOptions
from llmad.detectors.text_baseline import GRID, log_loss
from llmad.eval.metrics import compute

#: each slice with the text it is measured on in the README ("Text modes, fields and thresholds")
CASES = {"logs/hdfs": {"text": "ids"}, "logs/bgl": {"fields": "Component,Level"},
         "logs/thunderbird": {"text": "ids"}}
SETTINGS = [{"tf": tf, "class_weight": cw} for tf in ("sublinear", "raw") for cw in ("balanced", "none")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grid", choices=("four", "wide"), default="four",
                    help="four: tf x class weights; wide: the 48 settings of --tune valid")
    ap.add_argument("--datasets", default=",".join(CASES), help="comma-separated, of " + ", ".join(CASES))
    args = ap.parse_args()
    for dataset in args.datasets.split(","):
        if dataset not in CASES:
            ap.error(f"unknown dataset {dataset!r}; choose from {', '.join(CASES)}")
        opts = CASES[dataset]
        prep = runs.prepare(dataset, log_options=LogOptions(**opts), seed=args.seed)
        valid = prep.part("valid")
        rows = []
        for setting in SETTINGS if args.grid == "four" else GRID:
            det = runs.train(prep, "tfidf", {**setting, "seed": args.seed}).detector
            yv = valid["label"].to_numpy(int)
            sv = np.asarray(det.decision_function(valid), float)
            mv = compute(yv, sv, det.threshold_)
            mt = runs.evaluate(det, prep)
            rows.append({"dataset": dataset, **opts, **setting, "valid_f1": round(mv.f1, 4),
                         "valid_log_loss": round(log_loss(yv, sv), 5), "test_f1": round(mt["f1"], 4),
                         "test_roc_auc": round(mt["roc_auc"], 4), "seed": args.seed, "llmad": __version__})
        if args.grid == "four":
            best = max(rows, key=lambda r: (r["valid_f1"], -r["valid_log_loss"]))
            for r in rows:
                print(json.dumps({**r, "picked": r is best}), flush=True)
            continue
        tuned = runs.train(prep, "tfidf", {"tune": "valid", "seed": args.seed}).detector
        picked = tuned.info_["tuned"]["picked"]
        for r in rows:
            print(json.dumps({**r, "picked": all(r[k] == v for k, v in picked.items())}), flush=True)
        mt = runs.evaluate(tuned, prep)
        print(json.dumps({"dataset": dataset, **opts, "tune": "valid", **picked, "test_f1": round(mt["f1"], 4),
                          "test_roc_auc": round(mt["roc_auc"], 4), "oracle_f1": round(mt["oracle"]["f1"], 4),
                          "seed": args.seed, "llmad": __version__}), flush=True)


if __name__ == "__main__":
    main()
