"""Window text modes x detectors x log datasets: test F1, ROC-AUC and the oracle F1 (threshold chosen on
test: NOT a result, shown so a reader sees how much is ranking and how much is threshold).

    LLMAD_DATA_DIR=../shared/data python benchmarks/log_text_modes.py --detectors tfidf,tfidf-raw \
        --out runs/logtext/tfidf.jsonl
    LLMAD_DATA_DIR=../shared/data python benchmarks/log_text_modes.py --detectors sft --datasets hdfs \
        --modes counts,ids --seeds 0,1,2 --out runs/logtext/lm.jsonl      # minutes per run on 2 cores

Each row is one (dataset, text mode, fields, detector, threshold rule, seed) run through the run API
(``llmad.runs``), appended to ``--out`` as a JSON line; ``--table`` prints the markdown table of a file
(means ± std over seeds). ``tfidf-raw`` is TF-IDF with raw term counts (with ``ids``: the event-count
vector); ``tfidf-raw-unweighted`` also drops the balanced class weights. The language model (``sft``) is ``minilm-l3`` + LoRA with the per-dataset length and epochs of
``LM_SETTINGS``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from llmad import LlmadError, __version__, runs
from llmad.data.logs.options import LogOptions

DETECTORS = {"tfidf": ("tfidf", {}), "tfidf-raw": ("tfidf", {"tf": "raw"}),
             "tfidf-raw-unweighted": ("tfidf", {"tf": "raw", "class_weight": "none"}),
             "sft": ("sft", {"adapter": {"kind": "lora"}})}
#: per dataset: max_length (tokens) and epochs of the language model
LM_SETTINGS = {"hdfs": {"max_length": 128, "train": {"epochs": 3}},
               "bgl": {"max_length": 64, "train": {"epochs": 3}},
               "thunderbird": {"max_length": 128, "train": {"epochs": 3}}}
MODES = ("masked", "counts", "templates", "template-counts", "ids")


def run_one(prep, dataset: str, mode: str, fields: str | None, detector: str, rule: str, seed: int) -> dict:
    name, cfg = DETECTORS[detector]
    cfg = {**cfg, "seed": seed}
    if name == "sft":
        cfg.update(LM_SETTINGS[dataset])
    t0 = time.perf_counter()
    res = runs.train(prep, name, cfg, seed=seed, threshold=rule, threshold_folds=5)
    fit_s = time.perf_counter() - t0
    m = runs.evaluate(res.detector, prep)
    texts = res.detector._texts(prep.part("test"))
    return {"dataset": f"logs/{dataset}", "mode": mode, "fields": fields, "detector": detector, "threshold": rule,
            "seed": seed, "f1": m["f1"], "precision": m["precision"], "recall": m["recall"], "roc_auc": m["roc_auc"],
            "oracle_f1": m["oracle"]["f1"], "n_test": m["n"], "n_anomalous": m["n_anomalous"],
            "fit_seconds": round(fit_s, 1), "test_chars_mean": round(float(np.mean([len(t) for t in texts])), 1),
            "llmad": __version__}


def table(path: Path) -> str:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["detector"], r["mode"], r.get("fields") or "-", r["threshold"]), []).append(r)

    def ms(vals, digits=3):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "n/a"
        if len(vals) == 1:
            return f"{vals[0]:.{digits}f}"
        return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"

    out = ["| dataset | detector | text | fields | threshold | seeds | F1 | ROC-AUC | oracle F1 (not a result) | "
           "test chars | fit s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, rs in sorted(groups.items()):
        out.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | {len(rs)} | {ms([r['f1'] for r in rs])} | "
                   f"{ms([r['roc_auc'] for r in rs], 4)} | {ms([r['oracle_f1'] for r in rs])} | "
                   f"{rs[0]['test_chars_mean']:.0f} | {statistics.mean(r['fit_seconds'] for r in rs):.0f} |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="hdfs,bgl,thunderbird")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--fields", default="", help="semicolon-separated field lists to try beside none, e.g. "
                                                 "'Component,Level' (raw-file datasets only)")
    ap.add_argument("--detectors", default="tfidf,tfidf-raw")
    ap.add_argument("--thresholds", default="valid,cv")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--out", type=Path, default=Path("runs/logtext/table.jsonl"))
    ap.add_argument("--table", action="store_true", help="only print the table of --out")
    a = ap.parse_args(argv)
    if a.table:
        print(table(a.out))
        return
    a.out.parent.mkdir(parents=True, exist_ok=True)
    field_sets = [None] + [f for f in a.fields.split(";") if f]
    for ds in a.datasets.split(","):
        for fields in field_sets:
            if fields and ds == "hdfs":
                continue  # the HDFS sample is pre-parsed to messages
            for mode in a.modes.split(","):
                try:
                    prep = runs.prepare(f"logs/{ds}", log_options=LogOptions(text=mode, fields=fields))
                except LlmadError as e:  # e.g. a field the dataset's format lacks
                    print(f"logs/{ds} {mode} {fields}: skipped ({e})")
                    continue
                for det in a.detectors.split(","):
                    for rule in a.thresholds.split(","):
                        if rule == "cv" and det == "sft":
                            continue  # five extra LM fits: not on two cores
                        for seed in map(int, a.seeds.split(",")):
                            row = run_one(prep, ds, mode, fields, det, rule, seed)
                            with open(a.out, "a") as fh:
                                fh.write(json.dumps(row) + "\n")
                            print(f"{row['dataset']} {mode} {fields or '-'} {det} {rule} seed {seed}: F1 "
                                  f"{row['f1']:.3f} ROC-AUC {row['roc_auc']:.4f} oracle {row['oracle_f1']:.3f} "
                                  f"({row['fit_seconds']:.0f} s)", flush=True)
    print(table(a.out))


if __name__ == "__main__":
    main()
