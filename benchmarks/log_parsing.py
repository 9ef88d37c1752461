"""Parsing throughput on HDFS_20000.log: llmad's reader + masking + drain3 vs drain3 alone.

    python benchmarks/log_parsing.py [--file PATH] [--repeat 3] [--json out.json]

Three pipelines over the same lines, timed in one run (best of ``--repeat``), single process:

- ``llmad``: :class:`LogReader` (binary streaming, UTF-8 checks, format regex, quarantine) +
  :func:`mask` + :class:`TemplateModel` mining (drain3 underneath) — what ``llmad`` runs;
- ``drain3``: ``drain3.TemplateMiner.add_log_message`` alone on the already-split ``<Content>`` strings
  (no file reading, no masking) — drain3's own speed, the lower bound of any drain3 pipeline;
- ``drain3+masking``: the same with drain3's own ``MaskingInstruction`` regexes equivalent to ours.

Prints a table and a JSON object (lines/s and templates found).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _ours(path: Path) -> tuple[int, int]:
    from llmad.data.logs import LogReader, ReaderConfig, TemplateConfig, TemplateModel, get_format
    from llmad.data.logs.masking import mask

    model = TemplateModel(TemplateConfig(mask=False))
    n = 0
    reader = LogReader(path, get_format("hdfs"), ReaderConfig(quarantine=os.devnull))
    for _, f in reader:
        model.add(mask(f["Content"]))
        n += 1
    return n, len(model)


def _drain3(contents: list[str], masking: bool) -> tuple[int, int]:
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    from llmad.data.logs.masking import PATTERNS

    cfg = TemplateMinerConfig()
    cfg.masking_instructions = [MaskingInstruction(p, "*") for p in PATTERNS.values()] if masking else []
    miner = TemplateMiner(config=cfg)
    for c in contents:
        miner.add_log_message(c)
    return len(contents), len(miner.drain.clusters)


def run(path: Path, repeat: int = 3) -> dict:
    from llmad.data.logs import ReaderConfig, get_format
    from llmad.data.logs.reader import read_all

    rows, _ = read_all(path, get_format("hdfs"), ReaderConfig(quarantine=os.devnull))
    contents = [f["Content"] for _, f in rows]
    results = {}
    for name, fn in (("llmad (read+parse+mask+drain3)", lambda: _ours(path)),
                     ("drain3 TemplateMiner alone", lambda: _drain3(contents, False)),
                     ("drain3 TemplateMiner + its masking", lambda: _drain3(contents, True))):
        best, out = float("inf"), None
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        results[name] = {"lines": out[0], "templates": out[1], "seconds": round(best, 3),
                         "lines_per_s": round(out[0] / best)}
    return {"file": str(path), "repeat": repeat, "python": sys.version.split()[0], "results": results}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("LLMAD_DATA_DIR", Path.home() / ".cache/llmad/data")) / "logs/hdfs/HDFS_20000.log"
    ap.add_argument("--file", type=Path, default=default)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="Also write the JSON here.")
    a = ap.parse_args(argv)
    if not a.file.is_file():
        sys.exit(f"error: {a.file}: not found (set LLMAD_DATA_DIR or pass --file)")
    rep = run(a.file, a.repeat)
    from rich.console import Console
    from rich.table import Table

    t = Table("pipeline", "lines", "templates", "seconds", "lines/s", title=f"{a.file.name} (best of {a.repeat})")
    for k, r in rep["results"].items():
        t.add_row(k, f"{r['lines']:,}", str(r["templates"]), f"{r['seconds']:.3f}", f"{r['lines_per_s']:,}")
    Console().print(t)
    print(json.dumps(rep))
    if a.json:
        a.json.write_text(json.dumps(rep, indent=2))


if __name__ == "__main__":
    main()
