"""Single models against ensembles of seeds, on one dataset and split, with the same training command.

Trains ``--members`` x ``--ensembles`` models (``llmad train DATASET ARGS --seed S`` for S = 0 .. M*N-1; a folder
that already holds a trained model is reused, so the script resumes), evaluates each on the test part, then
combines seeds ``{M*k, ..., M*k + M-1}`` into ensemble ``k`` (``llmad ensemble``: mean log-odds, threshold on
validation) and evaluates those. Prints test F1 / ROC-AUC per model (and the oracle F1, threshold chosen on
test: not a result, it shows how much of a low F1 is the threshold) and the means ± std (ddof 0) of the single
models and of the ensembles, and writes everything to ``OUT/summary.json``.

    LLMAD_DATA_DIR=../shared/data python benchmarks/seed_ensembles.py logs/hdfs --out runs/ens-hdfs \\
        -- --detector sft --text ids --max-length 128 --epochs 3 --balance none
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def llmad(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "llmad.cli", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"llmad {' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return r.stdout


def evaluate(folder: Path) -> dict:
    f = folder / "eval.json"
    if not f.is_file():
        f.write_text(llmad("evaluate", str(folder), "--json"))
    return json.loads(f.read_text())


def oracle_f1(m: dict) -> float:
    """F1 at the threshold chosen on the test part itself: not a result, it shows how much is the threshold."""
    return float(m["oracle"]["f1"])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    train_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, train_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--members", type=int, default=3, help="Models per ensemble.")
    ap.add_argument("--ensembles", type=int, default=3, help="Ensembles (each of its own seeds).")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    n = a.members * a.ensembles
    singles = []
    for s in range(n):
        folder = a.out / f"s{s}"
        if not (folder / "detector.json").is_file():
            t0 = time.time()
            llmad("train", a.dataset, *train_args, "--seed", str(s), "--out", str(folder))
            print(f"trained seed {s} in {time.time() - t0:.0f} s", flush=True)
        m = evaluate(folder)
        singles.append(m)
        print(f"seed {s}: F1 {m['f1']:.3f} ROC-AUC {m['roc_auc']:.4f} (oracle F1 {oracle_f1(m):.3f})", flush=True)
    ens = []
    for k in range(a.ensembles):
        seeds = list(range(a.members * k, a.members * (k + 1)))
        folder = a.out / f"ensemble{k}"
        if not (folder / "detector.json").is_file():
            llmad("ensemble", *[str(a.out / f"s{s}") for s in seeds], "--out", str(folder))
        m = evaluate(folder)
        ens.append({**m, "members": seeds})
        print(f"ensemble {k} (seeds {seeds}): F1 {m['f1']:.3f} ROC-AUC {m['roc_auc']:.4f} "
              f"(oracle F1 {oracle_f1(m):.3f})", flush=True)

    def stats(ms: list[dict]) -> dict:
        f1 = np.array([m["f1"] for m in ms])
        auc = np.array([m["roc_auc"] for m in ms])
        oracle = np.array([oracle_f1(m) for m in ms])
        return {"f1_mean": float(f1.mean()), "f1_std": float(f1.std()), "roc_auc_mean": float(auc.mean()),
                "roc_auc_std": float(auc.std()), "oracle_f1_mean": float(oracle.mean()),
                "oracle_f1_std": float(oracle.std()), "n": len(ms)}

    summary = {"dataset": a.dataset, "train_args": train_args, "members": a.members,
               "singles": stats(singles), "ensembles": stats(ens),
               "single_f1": [m["f1"] for m in singles], "ensemble_f1": [m["f1"] for m in ens],
               "first_members": stats(singles[:a.ensembles])}
    (a.out / "summary.json").write_text(json.dumps(summary, indent=2))
    labels = {"singles": f"single models, seeds 0-{n - 1}", "first_members": f"single models, seeds 0-{a.ensembles - 1}",
              "ensembles": f"ensembles of {a.members}"}
    for name, label in labels.items():
        st = summary[name]
        print(f"{label:28s} F1 {st['f1_mean']:.3f} ± {st['f1_std']:.3f}  ROC-AUC {st['roc_auc_mean']:.4f} "
              f"± {st['roc_auc_std']:.4f}  oracle F1 {st['oracle_f1_mean']:.3f} ± {st['oracle_f1_std']:.3f} "
              f"(n={st['n']})")


if __name__ == "__main__":
    main()
