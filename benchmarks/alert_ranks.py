"""Where each kind of anomalous window ranks under saved log models (a diagnostic: it reads the labels of a part).

Scores one part (default ``test``) of each model's own split (dataset, split and log options read from the model),
ranks all of its windows by score (1 = most anomalous; tied windows share the best rank), and groups the anomalous
windows by their first ``--words`` words of text (e.g. on BGL with ``--fields Component,Level``: ``KERNEL FATAL
Lustre mount FAILED``). One row per group: how many windows, and the range of their ranks under each model. It shows
which kinds of anomaly a model ranks among the normal windows. It reads the labels of the part it scores, so it
tells why a figure is what it is; it must not choose a setting.

    LLMAD_DATA_DIR=../shared/data python benchmarks/alert_ranks.py runs/bgl111/tfidf-tune runs/bgl111/l6-s2/lm
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def ranks(scores: np.ndarray) -> np.ndarray:
    """1 for the highest score; ties share the best (lowest) rank."""
    order = np.sort(scores)[::-1]
    # the number of windows scoring strictly higher, plus one
    return np.searchsorted(-order, -scores, side="left") + 1


def group_key(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="Saved log models (llmad train --out) of one split.")
    ap.add_argument("--part", default="test", help="Part to score and rank (default: test).")
    ap.add_argument("--words", type=int, default=4, help="Group anomalous windows by this many leading words.")
    ap.add_argument("--json", type=Path, help="Also write the rows to this JSON file.")
    args = ap.parse_args()

    from model_splits import ModelSplits

    splits, by_model, table = ModelSplits(), {}, None
    for model in args.models:
        det, prep = splits.load(model)
        part = prep.parts[args.part]
        if table is not None and not np.array_equal(part["window_id"].to_numpy(), table["window_id"].to_numpy()):
            raise SystemExit(f"{model}: not the same windows as {args.models[0]} (another dataset or split)")
        table = part
        by_model[str(model)] = ranks(np.asarray(det.decision_function(part), dtype=float))

    y = table["label"].to_numpy()
    keys = np.array([group_key(t, args.words) for t in table["text"]])
    groups = sorted(set(keys[y == 1]), key=lambda k: -int(((keys == k) & (y == 1)).sum()))
    rows = []
    for k in groups:
        m = (keys == k) & (y == 1)
        row = {"group": k, "anomalous": int(m.sum()), "normal_same_group": int(((keys == k) & (y == 0)).sum())}
        for name, r in by_model.items():
            row[name] = [int(r[m].min()), int(r[m].max())]
        rows.append(row)

    print(f"{args.part} part: {len(table)} windows, {int(y.sum())} anomalous; rank 1 = most anomalous")
    names = list(by_model)
    for i, name in enumerate(names):
        print(f"  [{i}] {name}")
    print(f"{'anomalous windows, first words':<48} {'n':>3} {'normal':>6} " + " ".join(f"{f'[{i}]':>10}" for i in range(len(names))))
    for r in rows:
        cells = " ".join(f"{f'{r[n][0]}-{r[n][1]}':>10}" for n in names)
        print(f"{r['group'][:48]:<48} {r['anomalous']:>3} {r['normal_same_group']:>6} {cells}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
