"""What one training-time validation evaluation costs on a large workflow, with every validation job and with
``--eval-max`` (a stratified, seeded sample), scored as training scores it (PyTorch, fp32).

    LLMAD_DATA_DIR=../shared/data python benchmarks/eval_max_cost.py [--workflow casa_nowcast_full] [--eval-max 10000]

The detector is the LM-with-context row of ``workflow_context.py`` (``minilm-l3`` + LoRA, ``context`` template,
32 tokens) with its text layer fitted on 24,000 training jobs; its weights are untrained, which does not change
the cost of a forward pass. The texts are built once per fit (the first line), then each evaluation scores them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from llmad import runs
from llmad.detectors import make_detector
from llmad.detectors.finetuned import subsample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflow", default="casa_nowcast_full")
    ap.add_argument("--eval-max", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    prep = runs.prepare(f"flowbench/{a.workflow}", "run", a.seed)
    valid = prep.part("valid")
    det = make_detector("sft", backbone="minilm-l3", adapter="lora", template="context", context="batch",
                        max_length=32, seed=a.seed)
    det._build()
    det._fit_text(prep.part("train").iloc[:24000])
    t = time.perf_counter()
    texts = det._texts(valid)
    print(f"{a.workflow}: {len(valid):,} validation jobs; texts built in {time.perf_counter() - t:.1f} s (once per fit)")
    det._training = True  # score as training-time evaluation does: PyTorch, the weights as they are
    y = valid["label"].to_numpy().astype(int)
    for n in (None, a.eval_max):
        keep = np.arange(len(y)) if n is None else subsample(len(y), y, None, n, a.seed, min_per_class=1)
        t = time.perf_counter()
        det._logits([texts[i] for i in keep])
        print(f"one evaluation on {len(keep):,} jobs ({'all' if n is None else f'--eval-max {n}'}): "
              f"{time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
