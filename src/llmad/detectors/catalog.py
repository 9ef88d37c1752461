"""Detectors by name (the CLI's ``--detector``), loaded lazily.

Each entry names the module and class, its configuration (importable without the heavy libraries) and
the extra that brings its dependencies. Asking for a detector whose extra is missing is a one-line error
saying what to install; the classical detectors never import torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from llmad import LlmadError
from llmad.detectors.configs import GBDTConfig, ICLConfig, IForestConfig, SFTConfig, TfidfConfig


@dataclass(frozen=True)
class Entry:
    name: str
    module: str
    cls: str
    config: type
    about: str
    extra: str | None = None          # pip extra that brings the dependencies (None: the base install)
    needs: tuple[str, ...] = ()        # top-level modules it imports


CATALOG: dict[str, Entry] = {e.name: e for e in (
    Entry("gbdt", "llmad.detectors.baselines", "GBDT", GBDTConfig,
          "LightGBM gradient-boosted trees on numeric job features", needs=("lightgbm",)),
    Entry("iforest", "llmad.detectors.baselines", "IForest", IForestConfig,
          "PyOD Isolation Forest on numeric job features (unsupervised)", needs=("pyod",)),
    Entry("tfidf", "llmad.detectors.text_baseline", "TfidfLR", TfidfConfig,
          "TF-IDF of the text + logistic regression", needs=("sklearn",)),
    Entry("sft", "llmad.detectors.finetuned", "FineTuned", SFTConfig,
          "a fine-tuned language model (full, head, LoRA, LoReFT)", extra="sft",
          needs=("torch", "transformers", "peft")),
    Entry("icl", "llmad.detectors.icl", "InContext", ICLConfig,
          "in-context learning: a prompted causal LM scored by its label words (no fine-tuning)", extra="sft",
          needs=("torch", "transformers")),
)}
DETECTORS = tuple(CATALOG)


def entry(name: str) -> Entry:
    if name == "ensemble":
        raise LlmadError("an ensemble is built from trained models, not trained by name: train the members, then "
                         "llmad ensemble MODEL MODEL ... --out DIR")
    try:
        return CATALOG[name]
    except KeyError:
        raise LlmadError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}") from None


def detector_class(name: str) -> type:
    """Import the detector's class; a missing dependency is one line naming the extra to install."""
    if name == "ensemble":  # built from trained models (``llmad ensemble``), never trained by name
        from llmad.detectors.ensemble import Ensemble

        return Ensemble
    e = entry(name)
    try:
        module = importlib.import_module(e.module)
    except ImportError as err:
        missing = (err.name or "").split(".")[0] or str(err)
        hint = f"pip install 'llmad[{e.extra}]'" if e.extra else f"pip install {missing}"
        raise LlmadError(f"detector {name!r} needs {missing!r}, which is not installed: {hint}"
                         + (" (install the CPU build of torch first on a laptop, see the README)"
                            if missing == "torch" else "")) from None
    return getattr(module, e.cls)


def config_class(name: str) -> type:
    return entry(name).config


def make_detector(name: str, config: Any = None, **overrides: Any):
    """A fresh detector: ``config`` (a config object or dict) with ``overrides`` on top."""
    return detector_class(name)(config, **overrides)
