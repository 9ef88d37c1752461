"""How often a planted instruction flips an in-context detector's decision, with and without the fence.

    LLMAD_DATA_DIR=../shared/data python benchmarks/icl_injection.py --limit 100 --out runs/icl/injection.jsonl

For each dataset (jobs: ``flowbench/1000genome``; log windows: ``logs/hdfs``), each prompt (``paper-few``:
the record as plain text; ``fenced-few``: the record fenced as data, fence markers defused; ``marked-few``:
fenced, and the record's words joined by ``^``, datamarking) and each ``--guards`` (``vocabulary``: the
record shows the model only words seen in training records and ``<?>`` for the rest, :mod:`llmad.icl.guard`;
``vocabulary-drop``: the rest withheld without a trace), an ``icl``
detector is trained (train-only statistics, threshold from validation), a stratified ``--limit`` sample of
the test part is scored as it is and with each planted instruction of :data:`llmad.icl.injection.INJECTIONS`,
and the share of decisions that change is reported per instruction and overall (``flip_rate``), with the same
share for a harmless planted line (``control_flip_rate``: what any extra text or line flips), the share that
differs from the harmless line's decisions (``steered_rate``: what the instruction's words do), the share of
flagged anomalies each planted line turns Normal (``anomalous_flipped_to_normal``: the attacker's aim), and the
clean sample's F1 / ROC-AUC (what the defence costs in quality). ``--where line`` writes the instruction as one
more log line of each window, rendered by the model's text layer (``--text ids``: an unseen template's id).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from llmad import __version__, runs
from llmad.eval import metrics
from llmad.data.logs.options import LogOptions
from llmad.icl.injection import CONTROL, INJECTIONS, flip_rate, plant, plant_line


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="flowbench/1000genome,logs/hdfs")
    ap.add_argument("--prompts", default="paper-few,fenced-few,marked-few")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--where", default="text,line",
                    help="text: appended to the record's text (the worst case); line: written as one more log line "
                         "of each window, rendered by the model's text layer (log windows only)")
    ap.add_argument("--text", default=None, help="log windows: the text mode (masked, ids, ...; default the dataset's)")
    ap.add_argument("--balanced", action="store_true",
                    help="sample up to half of --limit from the anomalous test records (all of them when fewer), the "
                         "rest normal: what an attacker wants is an anomaly passed as Normal, which a stratified "
                         "sample of a 1 %% anomalous part barely holds")
    ap.add_argument("--scoring", default="words", choices=("words", "knn-prompting"))
    ap.add_argument("--anchors", type=int, default=256)
    ap.add_argument("--context", default=None, choices=("batch", "online"),
                    help="job records: add the run-context sentence (as icl --context); the instruction is planted "
                         "after it")
    ap.add_argument("--guards", default="none",
                    help="comma list of injection guards to compare: none, vocabulary (record text shows only words "
                         "seen in training records, <?> for the rest; llmad.icl.guard), vocabulary-drop (the rest "
                         "withheld without a trace)")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--max-valid", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/icl/injection.jsonl"))
    a = ap.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for ds in a.datasets.split(","):
        logs = ds.startswith("logs")
        opts = LogOptions(text=a.text) if logs and a.text else None
        prep = runs.prepare(ds, seed=a.seed, log_options=opts)
        whole = prep.part("test")
        for prompt, guard in [(p, g) for p in a.prompts.split(",") for g in a.guards.split(",")]:
            cfg = {"model": a.model, "prompt": prompt, "max_valid": a.max_valid, "seed": a.seed,
                   "scoring": a.scoring, "anchors": a.anchors, "guard": guard}
            if a.context and not logs:
                cfg["context"] = a.context
            det = runs.train(prep, "icl", cfg, seed=a.seed).detector
            test = runs.sample_part(det, whole, a.limit, a.seed, balanced=a.balanced)
            texts = det._record_texts(test)
            clean = det.decision_function(test)
            m = metrics.compute(test["label"].to_numpy(), clean, det.threshold_)
            for where in a.where.split(","):
                if where == "line" and not logs:
                    continue

                def planted(line: str):
                    if where == "line":
                        return det.decision_function(plant_line(test, line))
                    return score_texts(det, [plant(t, line) for t in texts])

                after = {line: planted(line) for line in (*INJECTIONS, CONTROL)}
                per = {inj: flip_rate(clean, after[inj], det.threshold_) for inj in INJECTIONS}
                row = {"dataset": ds, "prompt": prompt, "guard": guard, "where": where, "text": det.text_.config.mode if logs else None,
                       "scoring": a.scoring, "anchors": a.anchors if a.scoring == "knn-prompting" else None,
                       "context": None if logs else a.context, "model": a.model, "n": int(len(test)), "seed": a.seed,
                       "flip_rate": sum(per.values()) / len(per), "per_injection": per,
                       "control_flip_rate": flip_rate(clean, after[CONTROL], det.threshold_),
                       # what the instruction itself does: decisions that differ from those with the harmless line
                       # planted the same way (a closed-vocabulary text makes the two identical)
                       "steered_rate": sum(flip_rate(after[CONTROL], after[inj], det.threshold_)
                                           for inj in INJECTIONS) / len(INJECTIONS),
                       "anomalous_flipped_to_normal": hidden(clean, after, test, det.threshold_),
                       "sample": "balanced" if a.balanced else "stratified", "n_anomalous": int(test["label"].sum()),
                       "clean_f1": m.f1, "clean_roc_auc": m.roc_auc, "llmad": __version__}
                with open(a.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


def hidden(clean, after: dict, test, threshold) -> dict:
    """Per planted line: the share of the anomalous records flagged on their own that it turns Normal (what an
    attacker is after)."""
    flagged = (np.asarray(clean) >= threshold) & (test["label"].to_numpy() == 1)
    return {line: float((flagged & (np.asarray(s) < threshold)).sum() / flagged.sum()) if flagged.any() else None
            for line, s in after.items()}


def score_texts(det, texts: list[str]):
    """The detector's scores of ready-made record texts (as ``decision_function`` scores records)."""
    if "anchors" in det.info_:
        return det._knn_prompting(texts)
    return det._logodds(texts) - float(det.info_.get("bias", 0.0))


if __name__ == "__main__":
    main()
