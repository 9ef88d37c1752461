"""Detectors share one protocol (see :class:`llmad.detectors.base.Detector`)."""

from llmad.detectors.base import Detector, load_detector
from llmad.detectors.catalog import DETECTORS, make_detector

__all__ = ["DETECTORS", "Detector", "load_detector", "make_detector"]
