"""Running one cell of a study: exactly what ``llmad train`` + ``llmad evaluate`` would give, through the
run API (:mod:`llmad.runs`), plus the study's own measurement (perturbations, prefixes, probes, ...).

A cell returns a plain JSON-ready dict. Loaded, split datasets are kept for the next cells of the same
process (a grid trains many detectors on one load).
"""

from __future__ import annotations

import json
import tempfile
import time
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from llmad import LlmadError, datasets, runs

#: the 9 paper features in the order a job's life produces them: submitted (wms), queued, staged in, run
#: (runtime, CPU time), staged out, post-script — what a live monitor knows feature by feature
LIFECYCLE = ("wms_delay", "queue_delay", "stage_in_delay", "stage_in_bytes", "runtime",
             "kickstart_executables_cpu_time", "stage_out_delay", "stage_out_bytes", "post_script_delay")
KEPT = ("f1", "precision", "recall", "roc_auc", "pr_auc", "n", "n_anomalous", "threshold")


@lru_cache(maxsize=4)
def _prepared(dataset: str, split: str | None, seed: int, log_options: str | None) -> runs.Prepared:
    return runs.prepare(dataset, split, seed, json.loads(log_options) if log_options else None)


def prepared(dataset: str, split: str | None, seed: int, log_options: dict | None = None) -> runs.Prepared:
    """The dataset loaded and split (kept for the next cells of this process)."""
    opts = json.dumps(log_options, sort_keys=True) if log_options and datasets.is_logs(dataset) else None
    return _prepared(datasets.canonical(dataset), split, int(seed), opts)


def _train(p: dict, dataset: str | None = None, **kw: Any) -> runs.TrainResult:
    prep = prepared(dataset or p["dataset"], p["split"], p["seed"], p.get("log_options"))
    spec = p["spec"]
    return runs.train(prep, spec["detector"], dict(spec["config"]), threshold=p["threshold"], **kw)


def _metrics(det, dataset: str, p: dict, **kw: Any) -> dict:
    prep = prepared(dataset, p["split"], p["seed"], p.get("log_options"))
    t0 = time.perf_counter()
    m = runs.evaluate(det, prep, limit=p.get("limit"), **kw)
    out = {k: m[k] for k in KEPT}
    out["score_seconds"] = round(time.perf_counter() - t0, 3)
    out["oracle_f1"] = m["oracle"]["f1"]
    if "answers" in m:
        out["unparseable"] = m["answers"]["unparseable"]
    return out


def _trained_facts(res: runs.TrainResult) -> dict:
    det = res.detector
    out = {"fit_seconds": res.fit_seconds, "n_train": int(res.run.get("n_train", 0)),
           "threshold_from": det.info_.get("threshold_from")}
    if "n_train_used" in det.info_:
        out["n_train"] = int(det.info_["n_train_used"])
    elif "train_fraction" in res.run:
        out["n_train"] = int(round(res.run["train_fraction"]["fraction"] * res.run["train_fraction"]["of"]))
    if "parameters" in det.info_:
        out["trainable_parameters"] = int(det.info_["parameters"]["trainable"])
        out["total_parameters"] = int(det.info_["parameters"]["total"])
    return out


def run_cell(p: dict) -> dict:
    """The result of one cell (its parameters from :func:`llmad.studies.grid.plan`)."""
    fn = {"efficacy": _efficacy, "stability": _efficacy, "sample-efficiency": _sample_efficiency,
          "robustness": _robustness, "cross-dataset": _cross, "bias": _bias, "forgetting": _forgetting,
          "transfer": _transfer, "online": _online, "icl": _efficacy}[p["study"]]
    return fn(p)


def _efficacy(p: dict) -> dict:
    res = _train(p)
    return {**_trained_facts(res), **_metrics(res.detector, p["dataset"], p)}


def _sample_efficiency(p: dict) -> dict:
    res = _train(p, train_fraction=p["fraction"])
    return {**_trained_facts(res), **_metrics(res.detector, p["dataset"], p)}


def _robustness(p: dict) -> dict:
    from llmad.data.logs.perturb import Perturbation

    res = _train(p)
    rows = []
    clean = _metrics(res.detector, p["dataset"], p)
    for kind in p["perturbations"]:
        for r in p["ratios"]:
            m = clean if r == 0 else _metrics(res.detector, p["dataset"], p,
                                              perturbation=Perturbation(kind, r, p["seed"]))
            rows.append({"perturbation": kind, "ratio": r, "f1": m["f1"], "roc_auc": m["roc_auc"],
                         "pr_auc": m["pr_auc"]})
    return {**_trained_facts(res), **clean, "perturbed": rows}


def _cross(p: dict) -> dict:
    res = _train(p)
    out = {**_trained_facts(res), "tests": {}}
    for b in p["test_on"]:
        try:
            out["tests"][b] = _metrics(res.detector, b, p)
        except LlmadError as e:  # e.g. a model reading fields another dataset does not have
            out["tests"][b] = {"error": str(e)}
    return out


def _probe(det, probes: list[str]) -> list[float]:
    return [float(s) for s in det.text_scores(probes)]


def _bias(p: dict) -> dict:
    from llmad.detectors.catalog import make_detector

    cfg = {**p["spec"]["config"], "seed": p["init"], "inference": "torch"}
    fresh = make_detector("sft", cfg).initialise()
    before = _probe(fresh, p["probes"])
    del fresh
    prep = prepared(p["dataset"], p["split"], p["seed"], p.get("log_options"))
    res = runs.train(prep, "sft", cfg, threshold=p["threshold"])
    after = _probe(res.detector, p["probes"])
    m = _metrics(res.detector, p["dataset"], p)
    return {**_trained_facts(res), **m, "probes": p["probes"], "before": before, "after": after}


def _forgetting(p: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="llmad-forgetting-") as tmp:
        first = _train(p, out=f"{tmp}/a")
        a_before = _metrics(first.detector, p["dataset"], p)
        second = _train(p, dataset=p["then"], init=f"{tmp}/a")
        b = _metrics(second.detector, p["then"], p)
        a_after = _metrics(second.detector, p["dataset"], p)
    return {"a_before": a_before, "b": b, "a_after": a_after,
            "forgetting_f1": a_before["f1"] - a_after["f1"],
            "fit_seconds": first.fit_seconds + second.fit_seconds}


def _transfer(p: dict) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmad-transfer-") as tmp:
        source = _train(p, out=f"{tmp}/a")
        as_is = _metrics(source.detector, p["to"], p)
        for f in p["fractions"]:
            tuned = _train(p, dataset=p["to"], init=f"{tmp}/a", train_fraction=f)
            scratch = _train(p, dataset=p["to"], train_fraction=f)
            rows.append({"fraction": f, "n_train": _trained_facts(tuned)["n_train"],
                         "tuned": _metrics(tuned.detector, p["to"], p),
                         "scratch": _metrics(scratch.detector, p["to"], p)})
    return {"source": _metrics(source.detector, p["dataset"], p), "as_is": as_is, "retuned": rows}


# ------------------------------------------------------------------ online (early detection)
def record_prefix(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Job records as known after the first ``k`` lifecycle features: the rest unknown (NaN); any other
    numeric feature column is known only once the whole record is (``k == len(LIFECYCLE)``)."""
    from llmad.data.flowbench import feature_columns

    out = table.copy()
    out.attrs = table.attrs
    if k >= len(LIFECYCLE):
        return out
    hidden = list(LIFECYCLE[k:]) + [c for c in feature_columns(table, "all") if c not in LIFECYCLE]
    for c in hidden:
        if c in out.columns:
            out[c] = np.nan
    return out


def window_prefix(windows: pd.DataFrame, k: int) -> pd.DataFrame:
    """Log windows as known after their first ``k`` lines (messages and text rewritten)."""
    from llmad.data.logs.text import TextConfig, render_all

    out = windows.copy()
    out.attrs = windows.attrs
    msgs = [list(m)[:k] for m in windows["messages"]]
    out["messages"] = msgs
    if "n_lines" in out.columns:
        out["n_lines"] = [min(n, k) for n in windows["n_lines"]]
    if "text" in out.columns:
        out["text"] = render_all(msgs, TextConfig("masked"))[0]
    return out


def _online(p: dict) -> dict:
    res = _train(p)
    det = res.detector
    prep = prepared(p["dataset"], p["split"], p["seed"], p.get("log_options"))
    test = prep.part("test")
    if p.get("limit"):
        from llmad.data.splits import stratified_sample

        test = test.iloc[np.sort(stratified_sample(test["label"].to_numpy(), p["limit"], prep.seed))]
    y = test["label"].to_numpy().astype(int)
    logs = prep.is_logs
    if logs:
        longest = int(max(len(m) for m in test["messages"]))
        steps = list(range(1, min(longest, p["max_prefix"]) + 1))
        unit = "lines"
    else:
        steps = list(range(1, len(LIFECYCLE) + 1))
        unit = "features"
    from llmad.eval import metrics

    right = np.zeros((len(steps), len(y)), dtype=bool)
    curve = []
    for i, k in enumerate(steps):
        x = window_prefix(test, k) if logs else record_prefix(test, k)
        s = det.decision_function(x)
        pred = (s >= det.threshold_).astype(int)
        right[i] = pred == y
        m = metrics.compute(y, s, det.threshold_)
        curve.append({"prefix": k, "f1": m.f1, "recall": m.recall, "precision": m.precision, "roc_auc": m.roc_auc})
    # first prefix at which the prediction is right; "settled": right from there to the full record
    first = np.where(right.any(axis=0), right.argmax(axis=0), -1)
    stays = np.flip(np.cumprod(np.flip(right, axis=0), axis=0), axis=0).astype(bool)
    settled = np.where(stays.any(axis=0), stays.argmax(axis=0), -1)

    def hist(v: np.ndarray, mask: np.ndarray) -> dict:
        return {"never": int((v[mask] < 0).sum()),
                **{str(steps[i]): int((v[mask] == i).sum()) for i in range(len(steps))}}

    return {**_trained_facts(res), "unit": unit, "steps": steps,
            "order": list(LIFECYCLE) if not logs else None, "curve": curve,
            "first_right": {"anomalous": hist(first, y == 1), "normal": hist(first, y == 0)},
            "settled": {"anomalous": hist(settled, y == 1), "normal": hist(settled, y == 0)},
            "n": int(len(y)), "n_anomalous": int(y.sum())}
