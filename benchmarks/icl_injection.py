"""How often a planted instruction flips an in-context detector's decision, with and without the fence.

    LLMAD_DATA_DIR=../shared/data python benchmarks/icl_injection.py --limit 100 --out runs/icl/injection.jsonl

For each dataset (jobs: ``flowbench/1000genome``; log windows: ``logs/hdfs``) and each prompt (``paper-few``:
the record as plain text; ``fenced-few``: the record fenced as data, fence markers defused), an ``icl``
detector is trained (train-only statistics, threshold from validation), a stratified ``--limit`` sample of
the test part is scored as it is and with each planted instruction of :data:`llmad.icl.injection.INJECTIONS`,
and the share of decisions that change is reported per instruction and overall.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llmad import __version__, runs
from llmad.data.splits import stratified_sample
from llmad.icl.injection import INJECTIONS, flip_rate, plant


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="flowbench/1000genome,logs/hdfs")
    ap.add_argument("--prompts", default="paper-few,fenced-few")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--max-valid", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/icl/injection.jsonl"))
    a = ap.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for ds in a.datasets.split(","):
        prep = runs.prepare(ds, seed=a.seed)
        test = prep.part("test")
        test = test.iloc[stratified_sample(test["label"].to_numpy(), a.limit, a.seed)]
        for prompt in a.prompts.split(","):
            det = runs.train(prep, "icl", {"model": a.model, "prompt": prompt, "max_valid": a.max_valid,
                                           "seed": a.seed}, seed=a.seed).detector
            texts = det._record_texts(test)
            bias = float(det.info_["bias"])
            clean = det._logodds(texts) - bias
            per = {}
            for inj in INJECTIONS:
                planted = det._logodds([plant(t, inj) for t in texts]) - bias
                per[inj] = flip_rate(clean, planted, det.threshold_)
            row = {"dataset": ds, "prompt": prompt, "model": a.model, "n": int(len(test)), "seed": a.seed,
                   "flip_rate": sum(per.values()) / len(per), "per_injection": per, "llmad": __version__}
            with open(a.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
