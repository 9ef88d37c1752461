"""The split a saved model was trained on, prepared once however many of its seeds a benchmark reads."""

from __future__ import annotations

import json
from pathlib import Path


class ModelSplits:
    """Load saved models and prepare each one's own split (dataset, split, seed, log options) once per distinct key."""

    def __init__(self) -> None:
        self._prepared: dict = {}

    def load(self, model: Path):
        """The detector saved at ``model`` and the :class:`llmad.runs.Prepared` split it was trained on."""
        from llmad import runs
        from llmad.detectors import load_detector

        det = load_detector(model)
        run = det.run_
        key = (run["dataset"], run["split"], run["seed"], json.dumps(run.get("log_options"), sort_keys=True))
        if key not in self._prepared:
            self._prepared[key] = runs.prepare(run["dataset"], split=run["split"], seed=run["seed"],
                                               log_options=run.get("log_options"))
        return det, self._prepared[key]
