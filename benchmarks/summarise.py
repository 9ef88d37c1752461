"""Summarise trained-and-evaluated run folders (``<dir>/detector.json`` + ``<dir>/eval.json``) as a table.

    python benchmarks/summarise.py runs/quality runs/logs-quality [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(folders: list[Path]) -> list[dict]:
    out = []
    for root in folders:
        for d in sorted(p for p in root.iterdir() if (p / "eval.json").is_file()):
            try:
                m = json.loads((d / "eval.json").read_text())
            except json.JSONDecodeError:  # still being written
                continue
            cfg = json.loads((d / "detector.json").read_text())
            # schema 2 (config / state); folders written by llmad 0.1.0 have params / info
            info, params = cfg.get("state", cfg.get("info", {})), cfg.get("config", cfg.get("params", {}))
            tr = info.get("training", {})
            out.append({"run": d.name, "dataset": m["dataset"], "split": m["split"], "detector": m["detector"],
                        "adapter": (params.get("adapter") or {}).get("kind"), "template": params.get("template"),
                        "f1": m["f1"], "precision": m["precision"], "recall": m["recall"], "roc_auc": m["roc_auc"],
                        "pr_auc": m["pr_auc"], "n_test": m["n"], "n_train_used": info.get("n_train_used"),
                        "train_samples_per_s": tr.get("train_samples_per_s"),
                        "inference": info.get("inference_engine")})
    return out


def main(argv: list[str]) -> None:
    as_json = "--json" in argv
    data = rows([Path(a) for a in argv if a != "--json"])
    if as_json:
        print(json.dumps(data, indent=1))
        return
    cols = ["run", "f1", "precision", "recall", "roc_auc", "pr_auc", "n_test", "n_train_used", "train_samples_per_s"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in data:
        print("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
