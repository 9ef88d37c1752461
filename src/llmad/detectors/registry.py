"""Detectors by name (the CLI's ``--detector``)."""

from __future__ import annotations

from llmad import LlmadError
from llmad.detectors.base import Detector
from llmad.detectors.baselines import GBDT, IForest
from llmad.detectors.text_baseline import TfidfLR

from llmad.detectors.finetuned import FineTuned

DETECTORS: dict[str, type[Detector]] = {GBDT.name: GBDT, IForest.name: IForest, FineTuned.name: FineTuned,
                                        TfidfLR.name: TfidfLR}


def make_detector(name: str, **params) -> Detector:
    cls = DETECTORS.get(name)
    if cls is None:
        raise LlmadError(f"unknown detector {name!r}; known: {', '.join(sorted(DETECTORS))}")
    return cls(**params)
