"""What the cached prompt prefix saves in chain-of-thought generation, and what projecting only each query's last
position onto the vocabulary saves in scoring, side by side in one process (SmolLM2, fp32, CPU).

    python benchmarks/icl_prefix_cost.py [--queries 3] [--new-tokens 24] [--repeats 2]

Generation: ``paper-cot`` prefix (instructions + class statistics of 200 packaged-sample training jobs), one query
per test job, greedy, with and without the prefix cache, alternating. Scoring: ``paper-few`` with 2 fixed
demonstrations, 16 queries, ``distributions`` with and without ``logits_to_keep``, prefix reused, alternating.
"""

from __future__ import annotations

import argparse
import time

from llmad import runs
from llmad.icl import prompts as P
from llmad.icl.backend import CausalLM


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    prep = runs.prepare("flowbench/sample")
    train, test = prep.part("train").iloc[:200], prep.part("test")
    lm = CausalLM("smollm2")

    cot = P.get_prompt("paper-cot")
    cpre = P.prefix(cot, "jobs", P.class_statistics(train))
    cqs = [P.query(s, cot, "jobs") for s in P.job_sentences(test)[:a.queries]]
    lm.generate(cpre, cqs[0], 2)  # the prefix cache, computed once as a detector does
    gen = {True: [], False: []}
    for _ in range(a.repeats):
        for reuse in (True, False):
            gen[reuse].append(_timed(lambda: [lm.generate(cpre, q, a.new_tokens, reuse_prefix=reuse) for q in cqs]))

    few = P.get_prompt("paper-few")
    demos = [(s, y) for s, y in zip(P.job_sentences(train)[:2], [0, 1])]
    fpre = P.prefix(few, "jobs", P.class_statistics(train), demos)
    fqs = [P.query(s, few, "jobs") for s in P.job_sentences(test)[:16]]
    lm.distributions(fpre, fqs[:2])
    keep_arg, keep = lm._keep_arg, {True: [], False: []}
    for _ in range(a.repeats):
        for k in (True, False):
            lm._keep_arg = keep_arg if k else None
            keep[k].append(_timed(lambda: lm.distributions(fpre, fqs)))
    lm._keep_arg = keep_arg

    print(f"prefix tokens: cot {len(lm._ids(cpre, True))}, few-shot {len(lm._ids(fpre, True))}")
    print(f"generation, {len(cqs)} queries x {a.new_tokens} tokens: cache {min(gen[True]):.2f} s, "
          f"no cache {min(gen[False]):.2f} s, ratio {min(gen[False]) / min(gen[True]):.2f}x (best of {a.repeats})")
    print(f"distributions, {len(fqs)} queries: last position only {min(keep[True]):.2f} s, every position "
          f"{min(keep[False]):.2f} s, ratio {min(keep[False]) / min(keep[True]):.2f}x (best of {a.repeats})")


if __name__ == "__main__":
    main()
