"""Studies: every experiment of both papers as one resumable command with tables and plots.

``llmad study NAME --config FILE.toml --out DIR`` runs a grid of cells (datasets × detectors × seeds ×
the study's own knob) through the run API — a cell is exactly what ``llmad train`` + ``llmad evaluate``
give — saving each cell as it finishes (:mod:`llmad.studies.store`), and writes ``results.json``,
``report.md``, a self-contained ``report.html`` and PNG plots (:mod:`llmad.studies.report`).
"""

from llmad.studies.grid import ABOUT, STUDIES, plan
from llmad.studies.runner import default_out, run_study

__all__ = ["STUDIES", "ABOUT", "plan", "run_study", "default_out"]
