"""Parsing accuracy on Loghub's eight 2k samples: share of lines parsed and grouping accuracy (GA).

    LLMAD_DATA_DIR=../shared/data python benchmarks/log_parsing_accuracy.py [--dir PATH] [--json]

For each system, ``<System>_2k.log`` is parsed by :func:`llmad.data.logs.parse.parse_file` with the format
string in :data:`FORMATS` (llmad's syntax, written for these files), and compared with the hand-labelled
``<System>_2k.log_structured.csv``:

- **parsed**: share of the 2,000 lines that match the format, and share whose header fields and
  ``Content`` equal the ground-truth columns exactly;
- **GA llmad**: grouping accuracy of llmad's parser (masking + drain3 through ``TemplateModel``) on the
  ``Content`` it extracted (a line it did not parse counts as wrongly grouped);
- **GA drain3**: ``drain3.TemplateMiner`` with its default configuration (no masking) on the
  ground-truth ``Content`` column;
- **GA drain3, llmad's settings**: the same with llmad's :class:`TemplateConfig` drain parameters (depth
  5 where drain3 has 4) but no masking: what the settings give, apart from the masking.

GA (Zhu et al., ICSE-SEIP 2019): a line is correctly grouped when the set of lines sharing its predicted
template equals the set of lines sharing its ground-truth ``EventId``; GA = correct lines / all lines.
Loghub's labels have known imperfections (see the samples' README): compare parsers, not absolutes.
Prints a Markdown table with a mean row; ``--json`` prints one JSON object per system instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

#: one llmad format string per system (the fields are the columns of the structured files)
FORMATS: dict[str, str] = {
    "Android": "<Date> <Time> <Pid> <Tid> <Level> <Component>: <Content>",
    "BGL": "bgl",
    "HPC": "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "Linux": "<Month> <Date> <Time> <Level> <Component>[[[<PID>]]]: <Content>",
    "Mac": "<Month> <Date> <Time> <User> <Component>[<PID>][[ (<Address>)]]: <Content>",
    "OpenStack": "<Logrecord> <Date> <Time> <Pid> <Level> <Component> [<ADDR>] <Content>",
    "Thunderbird": "<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>[[[<PID>]]]: "
                   "<Content>",
    "Windows": "<Date> <Time>, <Level> <Component> <Content>",
}


def grouping_accuracy(truth: list, predicted: list) -> float:
    """Share of items whose predicted group has exactly the members of their true group (``None``
    predicted: not parsed, counted wrong; its true group then cannot be matched either)."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predicted differ in length")
    if not truth:
        return 0.0
    true_size = Counter(truth)
    members: dict = {}
    for t, p in zip(truth, predicted):
        if p is None:
            continue
        members.setdefault(p, Counter())[t] += 1
    correct = 0
    for p, labels in members.items():
        if len(labels) == 1:
            (t, k), = labels.items()
            if k == true_size[t]:
                correct += k
    return correct / len(truth)


def _drain3_alone(contents: list[str], llmad_settings: bool = False) -> list[str]:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    if llmad_settings:
        from llmad.data.logs.drain import TemplateConfig, _miner

        miner = _miner(TemplateConfig(mask=False))  # llmad's drain parameters, no masking
    else:
        miner = TemplateMiner(config=TemplateMinerConfig())  # defaults, no masking
    ids = [miner.add_log_message(c)["cluster_id"] for c in contents]
    final = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return [final[i] for i in ids]  # group by final template text, as llmad's EventId does


def evaluate(system: str, folder: Path) -> dict:
    import pandas as pd

    from llmad.data.logs.parse import parse_file
    from llmad.data.logs.reader import ReaderConfig

    log = folder / f"{system}_2k.log"
    truth = pd.read_csv(folder / f"{system}_2k.log_structured.csv", dtype=str, keep_default_na=False)
    t0 = time.perf_counter()
    table, summary = parse_file(log, FORMATS[system], max_unparsed=1.0, reader=ReaderConfig(quarantine=os.devnull))
    seconds = time.perf_counter() - t0
    ours = table.set_index("LineId")
    truth_ids = truth["LineId"].astype(int)
    fields = [c for c in truth.columns if c not in ("LineId", "EventId", "EventTemplate")]
    exact = 0
    predicted = []
    rows = ours.to_dict("index")
    for n, row in zip(truth_ids, truth.to_dict("records")):
        got = rows.get(n)
        if got is None:
            predicted.append(None)
            continue
        exact += all(str(got.get(f, "")) == row[f] for f in fields)
        predicted.append(got["EventId"])
    n_lines = len(truth)
    ga_llmad = grouping_accuracy(truth["EventId"].tolist(), predicted)
    ga_drain3 = grouping_accuracy(truth["EventId"].tolist(), _drain3_alone(truth["Content"].tolist()))
    ga_settings = grouping_accuracy(truth["EventId"].tolist(), _drain3_alone(truth["Content"].tolist(), True))
    return {"system": system, "format": FORMATS[system], "lines": n_lines, "parsed": summary["parsed"] / n_lines,
            "fields_exact": exact / n_lines, "templates_truth": int(truth["EventId"].nunique()),
            "templates_llmad": int(summary["templates"]), "ga_llmad": round(ga_llmad, 4),
            "ga_drain3": round(ga_drain3, 4), "ga_drain3_llmad_settings": round(ga_settings, 4),
            "seconds_llmad": round(seconds, 3)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("LLMAD_DATA_DIR", Path.home() / ".cache/llmad/data")) / "logs/loghub2k"
    ap.add_argument("--dir", type=Path, default=default, help="Folder of the <System>_2k.log samples.")
    ap.add_argument("--json", action="store_true", help="Print one JSON object per system (and the mean).")
    a = ap.parse_args(argv)
    missing = [s for s in FORMATS if not (a.dir / f"{s}_2k.log_structured.csv").is_file()]
    if missing:
        sys.exit(f"error: {a.dir}: no {missing[0]}_2k.log_structured.csv (set LLMAD_DATA_DIR or pass --dir)")
    rows = [evaluate(s, a.dir) for s in FORMATS]
    keys = ("parsed", "fields_exact", "ga_llmad", "ga_drain3", "ga_drain3_llmad_settings")
    mean = {"system": "mean", **{k: sum(r[k] for r in rows) / len(rows) for k in keys}}
    if a.json:
        for r in rows + [mean]:
            print(json.dumps(r))
        return
    print("| system | lines parsed | fields exact | templates (truth / llmad) | GA llmad | GA drain3 | "
          "GA drain3, llmad's settings |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['system']} | {r['parsed']:.1%} | {r['fields_exact']:.1%} | {r['templates_truth']} / "
              f"{r['templates_llmad']} | {r['ga_llmad']:.3f} | {r['ga_drain3']:.3f} | "
              f"{r['ga_drain3_llmad_settings']:.3f} |")
    print(f"| **mean** | {mean['parsed']:.1%} | {mean['fields_exact']:.1%} | | **{mean['ga_llmad']:.3f}** | "
          f"**{mean['ga_drain3']:.3f}** | {mean['ga_drain3_llmad_settings']:.3f} |")


if __name__ == "__main__":
    main()
