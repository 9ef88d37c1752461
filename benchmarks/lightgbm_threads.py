"""LightGBM fit time with 1 and 2 threads, on an idle machine and with busy CPUs beside it, in one run.

    LLMAD_DATA_DIR=../shared/data python benchmarks/lightgbm_threads.py [workflow] [busy processes]

The gbdt detector's settings (300 rounds, 31 leaves, deterministic, row-wise) on the run split's train
part (seed 0). "busy" starts N Python busy loops for the duration of the second measurement and stops them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import lightgbm as lgb

from llmad import runs
from llmad.data.flowbench import PAPER_FEATURES


def fit_seconds(x, y, threads: int, repeats: int = 3) -> float:
    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "seed": 0, "deterministic": True,
              "force_row_wise": True, "num_threads": threads, "verbosity": -1}
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        lgb.train(params, lgb.Dataset(x, label=y), 300)
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def main(workflow: str = "1000genome", busy: int = 2) -> dict:
    train = runs.prepare(f"flowbench/{workflow}", "run", 0).parts["train"]
    x, y = train[list(PAPER_FEATURES)].to_numpy("float64"), train["label"].to_numpy()
    out = {"workflow": workflow, "rows": int(len(x)), "idle": {t: fit_seconds(x, y, t) for t in (1, 2)}}
    hogs = [subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<120: pass"])
            for _ in range(busy)]
    try:
        out[f"busy{busy}"] = {t: fit_seconds(x, y, t) for t in (1, 2)}
    finally:
        for h in hogs:
            h.kill()
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(main(args[0] if args else "1000genome", int(args[1]) if len(args) > 1 else 2)))
