"""Datasets by name: ``flowbench/<workflow>`` (and ``flowbench/sample``, packaged), and system logs:
``logs/hdfs``, ``logs/hdfs-20k``, ``logs/hdfs-2k``, ``logs/bgl``, ``logs/thunderbird``, ``logs/spirit``
and ``logs:<path>`` (a user's file, with ``LogOptions(format=...)``)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from llmad import LlmadError
from llmad.data import flowbench
from llmad.data.logs import catalogue as log_sources
from llmad.data.logs.options import LogOptions

FAMILIES = ("flowbench", "logs")


def parse(name: str) -> tuple[str, str]:
    """``"flowbench/montage"`` -> ``("flowbench", "montage")``; a bare workflow name is Flow-Bench.

    ``"logs/bgl"`` -> ``("logs", "bgl")``; ``"logs:/var/log/x.log"`` -> ``("logs", ":/var/log/x.log")``.
    """
    if name.startswith("logs:"):
        if not name[5:]:
            raise LlmadError("logs:<path> needs a path, e.g. logs:/var/log/app.log")
        return "logs", name[4:]
    if "/" in name:
        family, item = name.split("/", 1)
    else:
        family, item = "flowbench", name
    if family not in FAMILIES:
        raise LlmadError(f"unknown dataset family {family!r} in {name!r}; known: flowbench, logs (logs:<path>)")
    return family, item


def canonical(name: str) -> str:
    family, item = parse(name)
    if family == "logs" and item.startswith(":"):
        return f"logs:{item[1:]}"
    return f"{family}/{item}"


def is_logs(name: str) -> bool:
    return parse(name)[0] == "logs"


def load(name: str, progress: Callable[[int, int], None] | None = None,
         log_options: LogOptions | None = None) -> pd.DataFrame:
    """A dataset as a table with a ``label`` column. Log datasets are windows tables whose ``part``
    column is already set (split before grouping) and whose ``attrs["split"]`` names that split."""
    family, item = parse(name)
    if family == "logs":
        return log_sources.load(item, log_options, progress=progress)
    return flowbench.load_workflow(item, progress=progress)


def available() -> list[dict]:
    """Every known dataset, whether its files are found, and where."""
    rows = []
    for wf in (flowbench.SAMPLE,) + flowbench.WORKFLOWS:
        try:
            f = flowbench.locate(wf)
            found, where = f.zip_path.is_file(), str(f.zip_path)
        except LlmadError as e:
            found, where = False, str(e).split(":")[0]
        rows.append({"name": f"flowbench/{wf}", "found": found, "path": where,
                     "packaged": wf == flowbench.SAMPLE})
    for name in log_sources.names():
        files = log_sources.files_of(name.split("/", 1)[1])
        rows.append({"name": name, "found": all(f.is_file() for f in files),
                     "path": ", ".join(str(f) for f in files), "packaged": False})
    return rows
