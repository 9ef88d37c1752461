"""One table for the 12 Flow-Bench workflows: what run context adds, for trees and language models.

    LLMAD_DATA_DIR=../shared/data python benchmarks/workflow_context.py \
        [--workflows all|a,b] [--seeds 0,1,2] [--lm] [--lm-max-train 8000] [--lm-seeds 0,1,2]
        [--lm-workflows all|a,b] [--lm-eval-max N] [--lm-template context|context-percentiles|...]
        [--lm-max-length N]
        [--lm-adapter lora|full] [--lm-backbone minilm-l3|minilm] [--lm-early-stopping N]
        [--rows gbdt,...] [--threshold valid|cv] [--out runs/context]

Rows (run split stratified by run category, test part; threshold = max F1 on validation, or with
``--threshold cv`` max F1 on out-of-fold scores over train + valid, 5 folds that keep each run whole):
- ``gbdt``: LightGBM on the 9 paper features;
- ``gbdt+ctx batch`` / ``gbdt+ctx online``: the same with run context (``--features context``);
- ``gbdt+ctx type``: the batch-context model trained with ``--target type`` (normal / cpu / hdd); its
  anomaly F1 / ROC-AUC come from 1 − P(normal), and its macro-F1 over the three types is a second table;
- with ``--lm``: ``minilm-l3`` + LoRA on the fitted ``context`` template (``--lm-template
  context-percentiles``: percentile codes instead of deciles, ``context-digits``: the percentile codes as two
  digits each, read in 64 tokens, ``context-percentiles-global``: percentile codes with edges over all training
  jobs instead of per transformation; batch; ``--lm-adapter full`` trains every weight
  instead of LoRA; ``--lm-backbone minilm`` reads with all 6 layers of all-MiniLM-L6-v2; ``--lm-early-stopping N``
  stops after N epochs without a better validation F1, default the library's), at most
  ``--lm-max-train`` training records (stratified, seeded), 2 epochs, 32 tokens (``--lm-max-length``);
  ``--lm-eval-max N`` evaluates early stopping on a stratified sample of N validation records (the threshold
  still reads all of them).
Every run goes through the library run API (``llmad.runs``); one JSON line per (workflow, detector, seed)
is appended to ``<out>/results.jsonl`` (a rerun skips what is there), and the mean ± std table is printed
as Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from llmad import runs
from llmad.data.flowbench import WORKFLOWS
from llmad.models.configs import TrainConfig

ROWS = {
    "gbdt": ("gbdt", {}),
    "gbdt+ctx batch": ("gbdt", {"features": "context", "context": "batch"}),
    "gbdt+ctx online": ("gbdt", {"features": "context", "context": "online"}),
    "gbdt+ctx type": ("gbdt", {"features": "context", "context": "batch", "target": "type"}),
}


def lm_row(max_train: int, epochs: int = 2, eval_max: int | None = None,
           template: str = "context", adapter: str = "lora", backbone: str = "minilm-l3",
           early_stopping: int | None = None, max_length: int | None = None) -> tuple[str, dict]:
    train = {"epochs": epochs, "batch_size": 32, **({"eval_max": eval_max} if eval_max else {}),
             **({"early_stopping": early_stopping} if early_stopping is not None else {})}
    return ("sft", {"backbone": backbone, "adapter": adapter, "template": template, "context": "batch",
                    "max_length": max_length or lm_max_length(template), "max_train": max_train, "train": train})


def lm_max_length(template: str) -> int:
    """Tokens the LM row reads: 17 one-token codes and the transformation fit in 32; two digits a code in 64."""
    return 64 if template == "context-digits" else 32


def lm_epochs(n_train: int, max_train: int, min_steps: int | None, batch_size: int = 32) -> int:
    """2 epochs, or as many as it takes to make ``min_steps`` optimiser steps on a small workflow."""
    if not min_steps:
        return 2
    n = min(n_train, max_train)
    return max(2, -(-min_steps * batch_size // max(n, 1)))


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflows", default="all")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--lm", action="store_true", help="also the language model with context")
    ap.add_argument("--lm-max-train", type=int, default=8000)
    ap.add_argument("--lm-min-steps", type=int, default=None,
                    help="train the LM for at least this many steps (more epochs on small workflows)")
    ap.add_argument("--lm-seeds", default=None, help="seeds of the LM row (default: --seeds)")
    ap.add_argument("--lm-workflows", default=None, help="workflows of the LM row (default: --workflows)")
    ap.add_argument("--lm-eval-max", type=int, default=None,
                    help="early stopping of the LM reads at most N validation records (stratified)")
    ap.add_argument("--lm-template", default="context", choices=("context", "context-percentiles", "context-digits",
                                                          "context-percentiles-global"),
                    help="text template of the LM row: decile codes (context), percentile codes, percentile "
                         "codes written as two digits, or percentile codes among all jobs (global edges)")
    ap.add_argument("--lm-max-length", type=int, default=None,
                    help="tokens the LM row reads (default 32; 64 with context-digits)")
    ap.add_argument("--lm-adapter", default="lora", choices=("lora", "full"),
                    help="how the LM row adapts its backbone: LoRA or every weight")
    ap.add_argument("--lm-backbone", default="minilm-l3", choices=("minilm-l3", "minilm"),
                    help="backbone of the LM row: minilm-l3 (3 layers, 17.6 M weights) or minilm (6 layers, 22.7 M)")
    ap.add_argument("--lm-early-stopping", type=int, default=None,
                    help="epochs without a better validation F1 before the LM row stops "
                         f"(default {TrainConfig().early_stopping}; 0 = off)")
    ap.add_argument("--rows", default=None, help=f"tree rows to run (default all: {', '.join(ROWS)})")
    ap.add_argument("--threshold", choices=("valid", "cv"), default="valid",
                    help="threshold rule of every row (cv: 5 more fits per row; the LM keeps valid)")
    ap.add_argument("--out", type=Path, default=Path("runs/context"))
    a = ap.parse_args(argv)
    wfs = list(WORKFLOWS) if a.workflows == "all" else a.workflows.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = dict(ROWS) if a.rows is None else {r: ROWS[r] for r in a.rows.split(",") if r}
    adapter = "LoRA" if a.lm_adapter == "lora" else a.lm_adapter
    lm_name = f"{a.lm_backbone}+{adapter} {a.lm_template} ({a.lm_max_train} rec" + (
        f", >= {a.lm_min_steps} steps" if a.lm_min_steps else "") + (
        f", patience {a.lm_early_stopping}" if a.lm_early_stopping is not None else "") + (
        f", {a.lm_max_length} tokens" if a.lm_max_length else "") + (
        f", eval on {a.lm_eval_max})" if a.lm_eval_max else ")")
    if a.lm:
        rows[lm_name] = lm_row(a.lm_max_train, template=a.lm_template, adapter=a.lm_adapter, backbone=a.lm_backbone,
                               early_stopping=a.lm_early_stopping, max_length=a.lm_max_length)
    lm_seeds = seeds if a.lm_seeds is None else [int(s) for s in a.lm_seeds.split(",")]
    lm_wfs = wfs if a.lm_workflows in (None, "all") else a.lm_workflows.split(",")
    a.out.mkdir(parents=True, exist_ok=True)
    res_file = a.out / "results.jsonl"
    done = {(r["workflow"], r["row"], r["seed"]) for r in map(json.loads, res_file.read_text().splitlines())} \
        if res_file.is_file() else set()
    for wf in wfs:
        for seed in seeds:
            todo = [r for r in rows if (wf, r, seed) not in done
                    and (r != lm_name or (seed in lm_seeds and wf in lm_wfs))]
            if not todo:
                continue
            prep = runs.prepare(f"flowbench/{wf}", "run", seed)
            for row in todo:
                name, cfg = rows[row]
                if row == lm_name:
                    cfg = lm_row(a.lm_max_train, lm_epochs(len(prep.parts["train"]), a.lm_max_train, a.lm_min_steps),
                                 a.lm_eval_max, a.lm_template, a.lm_adapter, a.lm_backbone, a.lm_early_stopping,
                                 a.lm_max_length)[1]
                t0 = time.perf_counter()
                rule = "valid" if row == lm_name else a.threshold
                det = runs.train(prep, name, cfg, threshold=rule).detector
                m = runs.evaluate(det, prep)
                rec = {"workflow": wf, "row": row, "seed": seed, "detector": name, "config": det.get_params(),
                       "f1": m["f1"], "roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"], "n_test": m["n"],
                       "type_macro_f1": m["type"]["macro_f1"] if "type" in m else None,
                       "threshold": rule, "n_train": len(prep.parts["train"]), "seconds": round(time.perf_counter() - t0, 1),
                       "kept_epoch": det.kept_epoch() if hasattr(det, "kept_epoch") else None,
                       "split": "run", "command": "python benchmarks/workflow_context.py " + " ".join(argv)}
                with open(res_file, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(f"{wf} {row} seed {seed}: F1 {m['f1']:.3f} ROC-AUC {m['roc_auc']:.3f} "
                      f"({rec['seconds']} s)", file=sys.stderr, flush=True)
    print(table(res_file, wfs, list(rows)))
    print()
    print(type_table(res_file, wfs))


def table(res_file: Path, wfs: list[str], row_names: list[str]) -> str:
    res = [json.loads(x) for x in res_file.read_text().splitlines()]
    head = "| workflow | " + " | ".join(row_names) + " |"
    lines = [head, "|" + "---|" * (len(row_names) + 1)]
    for wf in wfs:
        cells = []
        for row in row_names:
            got = [r for r in res if r["workflow"] == wf and r["row"] == row]
            if not got:
                cells.append("not run")
                continue
            f1 = np.array([r["f1"] for r in got])
            auc = np.array([r["roc_auc"] for r in got])
            cells.append(f"{f1.mean():.3f} ± {f1.std():.3f} / {auc.mean():.3f} (n={len(got)})")
        lines.append(f"| {wf} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def type_table(res_file: Path, wfs: list[str]) -> str:
    """Macro-F1 over normal / cpu / hdd of the ``--target type`` row."""
    res = [json.loads(x) for x in res_file.read_text().splitlines()]
    lines = ["| workflow | gbdt+ctx type: macro-F1 (normal / cpu / hdd) |", "|---|---|"]
    for wf in wfs:
        got = [r["type_macro_f1"] for r in res if r["workflow"] == wf and r.get("type_macro_f1") is not None]
        cell = f"{np.mean(got):.3f} ± {np.std(got):.3f} (n={len(got)})" if got else "not run"
        lines.append(f"| {wf} | {cell} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
