"""How much can a per-job detector know? Gradient-boosted trees on richer and richer honest feature sets.

The language-model detectors read one job's text. This script measures, with LightGBM on the same
run split and the same validation threshold, what the information in one job record supports:

- ``paper``: the 9 paper features (the `gbdt` baseline);
- ``deciles``: the codes of the `deciles` template (edges fitted on train) + the transformation;
- ``compact``: the raw values the `compact` template prints (9 features, 2 peer ratios, transformation);
- ``rich``: every numeric non-host column, peer ratios (value / median of the same transformation in the
  same run) of 11 columns, runtime / CPU time, stage-in and stage-out throughput;
- ``context``: the 9 paper features + the run context (`--features context` of the `gbdt` detector, batch);
- ``context-codes``: what the `context` template says (its codes, edges fitted on train, + the
  transformation): the text a language model with context reads. ``context`` against ``context-codes``
  tells how much the text loses; ``context-codes`` against the language model tells the rest.
- ``context-fields``: the raw values of the fields the `context` template codes (+ the transformation).
  ``context`` against ``context-fields`` is what the template's choice of fields loses, ``context-fields``
  against ``context-codes`` what binning into deciles loses.
- ``context-percentile-codes``: what the `context-percentiles` template says (the same fields in 100 bins).
- ``context-percentile-scrambled``: the same codes, each field's 100 codes renamed by a fixed random permutation
  (seeded by ``--seed``): the same information with the order of the codes taken away, which is how a model
  that reads each code as a symbol sees them. Against ``context-percentile-codes`` it tells what order is
  worth to the trees.
- ``context-global-codes``: what the `context-percentiles-global` template says (percentile edges over every
  training job instead of per transformation).

No host, site or node column enters any of them. Each line also gives ``valid_f1``, the validation F1 at the
threshold chosen there: what may pick a feature set without reading test labels. Usage (one line per workflow and
feature set):

    LLMAD_DATA_DIR=../shared/data python benchmarks/flowbench_ceiling.py 1000genome montage predict_future_sales
    ... flowbench_ceiling.py --kinds context,context-codes --seed 1 1000genome
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from llmad.data.flowbench import PAPER_FEATURES, feature_columns, load_workflow
from llmad.data.splits import split
from llmad.eval.metrics import best_f1_threshold, compute
from llmad.text.records import CONTEXT_FIELDS, _transformations, fit_template, peer_ratio, render

PEERS = ("runtime", "kickstart_executables_cpu_time", "stage_in_delay", "stage_out_delay", "queue_delay",
         "wms_delay", "post_script_delay", "kickstart_online_utime", "kickstart_online_stime",
         "kickstart_online_iowait", "stage_in_effective_bytes_per_sec")


def scramble(n_fields: int, seed: int) -> np.ndarray:
    """One fixed random renaming of the 100 percentile codes per field (row j: new name of code c at [j, c])."""
    return np.random.default_rng(seed).permuted(np.tile(np.arange(100), (n_fields, 1)), axis=1)


def features(part: pd.DataFrame, kind: str, state: dict | None, vocab: dict,
             perms: np.ndarray | None = None) -> np.ndarray:
    tr = np.array([vocab.setdefault(t, len(vocab)) for t in _transformations(part)], dtype=float)
    if kind == "paper":
        return part[list(PAPER_FEATURES)].to_numpy(float)
    if kind == "context":
        return part[feature_columns(part, "context")].to_numpy(float)
    if kind == "context-fields":
        return np.column_stack([part[list(CONTEXT_FIELDS)].to_numpy(float), tr])
    if kind in ("deciles", "context-codes", "context-percentile-codes", "context-percentile-scrambled",
                "context-global-codes"):
        template = {"deciles": "deciles", "context-codes": "context",
                    "context-global-codes": "context-percentiles-global"}.get(kind, "context-percentiles")
        rows = [t.split()[:-1] for t in render(part, template, state)]
        x = np.array([[np.nan if c == "-" else float(c) for c in r] for r in rows])
        if kind == "context-percentile-scrambled":  # the same renaming for every part
            x = np.column_stack([np.where(np.isnan(col), np.nan, perms[j][np.nan_to_num(col).astype(int)])
                                 for j, col in enumerate(x.T)])
        return np.column_stack([x, tr])
    cols = [part[c].to_numpy(float) for c in PAPER_FEATURES]
    cols += [peer_ratio(part, "runtime"), peer_ratio(part, "kickstart_executables_cpu_time"), tr]
    if kind == "compact":
        return np.column_stack(cols)
    extra = [part[c].to_numpy(float) for c in feature_columns(part, "all") if c not in PAPER_FEATURES]
    extra += [peer_ratio(part, c) for c in PEERS if c in part.columns]
    with np.errstate(divide="ignore", invalid="ignore"):
        extra += [part["runtime"].to_numpy(float) / part["kickstart_executables_cpu_time"].to_numpy(float),
                  part["stage_in_bytes"].to_numpy(float) / part["stage_in_delay"].to_numpy(float),
                  part["stage_out_bytes"].to_numpy(float) / part["stage_out_delay"].to_numpy(float)]
    x = np.column_stack(cols + extra)
    x[~np.isfinite(x)] = np.nan
    return x


KINDS = ("paper", "deciles", "compact", "rich", "context", "context-codes", "context-fields",
         "context-percentile-codes", "context-percentile-scrambled", "context-global-codes")


def main(workflows: list[str], seed: int = 0, kinds: tuple[str, ...] = KINDS[:4], max_train: int | None = None) -> None:
    import lightgbm as lgb

    from llmad.context.workflow import RunContext

    for wf in workflows:
        parts = split(load_workflow(wf), "run", seed=seed)
        n_train_all = len(parts["train"])
        if max_train and max_train < n_train_all:  # a stratified, seeded cap on training jobs (as --max-train)
            from sklearn.model_selection import train_test_split

            keep, _ = train_test_split(parts["train"], train_size=max_train, random_state=seed,
                                       stratify=parts["train"]["label"])
            parts["train"] = parts["train"].loc[parts["train"].index.isin(keep.index)]
        if any(k.startswith("context") for k in kinds):
            ctx = RunContext.fit(parts["train"], "batch")  # each part's context from its own runs
            parts = {k: ctx.transform(p) for k, p in parts.items()}
        states = {"deciles": fit_template("deciles", parts["train"])}
        if "context-codes" in kinds:
            states["context-codes"] = fit_template("context", parts["train"])
        if "context-percentile-codes" in kinds or "context-percentile-scrambled" in kinds:
            states["context-percentile-codes"] = fit_template("context-percentiles", parts["train"])
        if "context-global-codes" in kinds:
            states["context-global-codes"] = fit_template("context-percentiles-global", parts["train"])
        for kind in kinds:
            vocab: dict = {}
            state = states.get(kind, states["deciles"])
            perms = None
            if kind == "context-percentile-scrambled":
                state, perms = states["context-percentile-codes"], scramble(len(CONTEXT_FIELDS), seed)
            x = {k: features(p, kind, state, vocab, perms) for k, p in parts.items()}
            params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "seed": seed,
                      "deterministic": True, "force_row_wise": True, "num_threads": 2, "verbosity": -1}
            booster = lgb.train(params, lgb.Dataset(x["train"], label=parts["train"]["label"].to_numpy()), 300)
            yv, pv = parts["valid"]["label"].to_numpy(), booster.predict(x["valid"])
            thr = best_f1_threshold(yv, pv)
            m = compute(parts["test"]["label"].to_numpy(), booster.predict(x["test"]), thr)
            print(json.dumps({"workflow": wf, "features": kind, "n_features": int(x["train"].shape[1]),
                              "f1": round(m.f1, 4), "roc_auc": round(m.roc_auc, 4), "pr_auc": round(m.pr_auc, 4),
                              "valid_f1": round(compute(yv, pv, thr).f1, 4),
                              "n_test": m.n, "n_train": len(parts["train"]), "n_train_all": n_train_all,
                              "split": "run", "seed": seed}), flush=True)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workflows", nargs="*", default=["1000genome", "montage", "predict_future_sales"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-train", type=int, default=None, help="cap on training jobs (stratified, seeded)")
    ap.add_argument("--kinds", default=",".join(KINDS[:4]), help=f"comma-separated, from {', '.join(KINDS)}")
    a = ap.parse_args()
    bad = [k for k in a.kinds.split(",") if k not in KINDS]
    if bad:
        sys.exit(f"unknown kind(s) {bad}; choose from {', '.join(KINDS)}")
    main(a.workflows, a.seed, tuple(a.kinds.split(",")), a.max_train)
