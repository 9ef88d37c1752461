"""In-context learning on a packaged model: quality of each prompt / demonstration choice, and the speed-up
from reusing the shared prompt prefix, measured in one run.

    LLMAD_DATA_DIR=../shared/data python benchmarks/icl_quality.py --dataset flowbench/1000genome \
        --limit 300 --out runs/icl/1000genome.jsonl

For each method (``--methods``: ``PROMPT:DEMOS:SHOTS[:SCORING]``, SCORING ``words`` (default) or
``knn-prompting``; ``--base-url`` scores through an OpenAI-compatible server instead of in-process) it trains an ``icl`` detector through the run API
(train-only statistics and demonstrations; threshold on a stratified ``--max-valid`` validation sample),
scores a stratified ``--limit`` test sample once, and reports from those scores:

- ``f1`` / ``roc_auc`` / ``pr_auc``: at the validation threshold (every detector's protocol);
- ``answer_f1_raw``: F1 of the model's own answer (Abnormal when its log-odds > 0), uncalibrated;
- ``answer_f1_calibrated``: the same after contextual calibration (log-odds minus the content-free bias).
  Calibration shifts every score by one constant, so it moves neither ROC-AUC nor the validation-threshold
  F1: it matters for the answer the model gives on its own.
  Neither exists for kNN prompting (its score is a vote, not log-odds): null there.
- ``s_per_query``: scoring seconds per test record; with ``--speed N`` the first N test queries are scored
  again with and without prefix reuse, side by side, and the ratio is reported.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from llmad import __version__, runs
from llmad.eval import metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="flowbench/1000genome")
    ap.add_argument("--methods", default="paper-zero:-:0,paper-few:stratified:3,paper-few:random:3,paper-few:knn:3")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--max-valid", type=int, default=300)
    ap.add_argument("--speed", type=int, default=40, help="queries of the side-by-side prefix-reuse timing (0: none)")
    ap.add_argument("--balanced", action="store_true",
                    help="sample up to half of --limit from the anomalous test records (all when fewer), the rest "
                         "normal: for a part with few anomalies (HDFS: 1 %%), whose stratified sample barely holds "
                         "any; ROC-AUC / PR-AUC then rank, F1 is that sample's, not the part's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--anchors", type=int, default=256)
    ap.add_argument("--neighbours", type=int, default=16)
    ap.add_argument("--context", default="none", choices=("none", "batch", "online"),
                    help="job records: add the run context in words to each job's text")
    ap.add_argument("--job-text", default="delays", choices=("delays", "levels"),
                    help="job records: the paper's delays in seconds, or levels against training jobs of the same kind")
    ap.add_argument("--base-url", default="", help="an OpenAI-compatible server (model = its model name)")
    ap.add_argument("--text", default=None, help="log data: the window text mode (masked, ids, ...; default: masked)")
    ap.add_argument("--fields", default=None,
                    help="log data: format fields written before each line's message, e.g. Component,Level")
    ap.add_argument("--out", type=Path, default=Path("runs/icl/results.jsonl"))
    a = ap.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    log_options = {k: v for k, v in (("text", a.text), ("fields", a.fields)) if v is not None} or None
    prep = runs.prepare(a.dataset, seed=a.seed, log_options=log_options)
    whole_test = prep.part("test")
    for method in a.methods.split(","):
        prompt, demos, shots, *rest = method.split(":")
        scoring = rest[0] if rest else "words"
        cfg = {"model": a.model, "prompt": prompt, "shots": int(shots), "max_valid": a.max_valid, "seed": a.seed,
               "scoring": scoring, "anchors": a.anchors, "neighbours": a.neighbours, "base_url": a.base_url,
               "context": a.context, "job_text": a.job_text}
        if demos != "-":
            cfg["demos"] = demos
        t0 = time.perf_counter()
        det = runs.train(prep, "icl", cfg, seed=a.seed).detector
        fit_s = time.perf_counter() - t0
        # the same stratified sample for every method; run context (if any) from the whole test part's runs
        test = runs.sample_part(det, whole_test, a.limit, a.seed, balanced=a.balanced)
        y = test["label"].to_numpy()
        t0 = time.perf_counter()
        s = det.decision_function(test)
        score_s = time.perf_counter() - t0
        bias = float(det.info_["bias"])
        knn = scoring == "knn-prompting"
        m = metrics.compute(y, s, det.threshold_)
        row = {"dataset": prep.dataset, "split": prep.split, "method": method, "context": a.context, "job_text": a.job_text, "log_options": log_options, "model": a.model, "seed": a.seed,
               "n_test": int(len(test)), "n_anomalous": int(y.sum()), "f1": m.f1, "roc_auc": m.roc_auc,
               "pr_auc": m.pr_auc, "oracle_f1": metrics.oracle(y, s)["f1"],
               "answer_f1_raw": None if knn else metrics.compute(y, s + bias, 0.0).f1,
               "answer_f1_calibrated": None if knn else metrics.compute(y, s, 0.0).f1, "bias": bias,
               "backend": a.base_url or "in-process",
               "threshold_from": det.info_["threshold_from"], "fit_s": round(fit_s, 1),
               "s_per_query": round(score_s / len(test), 4), "sample": "balanced" if a.balanced else "stratified",
               "llmad": __version__}
        said = det.details_.get("answer")  # chain of thought: the model's own parsed answers
        if said is not None and len(said) == len(test):
            ok = np.array([v is not None for v in said])
            abnormal = np.array([v == "Abnormal" for v in said if v is not None], dtype=float)
            row["answers"] = {"parsed": int(ok.sum()), "unparseable": int((~ok).sum()),
                              "f1_of_parsed": metrics.compute(y[ok], abnormal, 0.5).f1 if ok.any() else None}
        if a.speed and not knn and not det.prompt.cot:
            part = test.iloc[:a.speed]
            texts = det._record_texts(part)
            queries, _ = det._queries(texts)
            pre = det._prefix()
            lm = det.lm()
            times = {}
            for reuse in (False, True):
                if hasattr(lm, "_prefix_key"):
                    lm._prefix_key = None  # the prefix's own pass is part of the reuse timing
                t0 = time.perf_counter()
                lm.score(pre, queries, ("Normal", "Abnormal"), batch_size=det.config.batch_size, reuse_prefix=reuse)
                times[reuse] = time.perf_counter() - t0
            row["speed"] = {"queries": len(part),
                            "prefix_tokens": len(lm._ids(pre, True)) if hasattr(lm, "_ids") else None,
                            "s_per_query_full": round(times[False] / len(part), 4),
                            "s_per_query_reused": round(times[True] / len(part), 4),
                            "speedup": round(times[False] / times[True], 2)}
        with open(a.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
