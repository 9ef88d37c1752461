"""Datasets by name: ``flowbench/<workflow>`` (and ``flowbench/sample``, packaged)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from llmad import LlmadError
from llmad.data import flowbench


def parse(name: str) -> tuple[str, str]:
    """``"flowbench/montage"`` -> ``("flowbench", "montage")``; a bare workflow name is Flow-Bench."""
    if "/" in name:
        family, item = name.split("/", 1)
    else:
        family, item = "flowbench", name
    if family != "flowbench":
        raise LlmadError(f"unknown dataset family {family!r} in {name!r}; known: flowbench")
    return family, item


def canonical(name: str) -> str:
    family, item = parse(name)
    return f"{family}/{item}"


def load(name: str, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    _, item = parse(name)
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
    return rows
