"""System logs: formats, streaming reading with a quarantine, masking, drain3 templates, windows
and sessions (split before grouping), window text, unstable-log perturbations, datasets."""

from llmad.data.logs.formats import BUILTIN as FORMATS, LogFormat, compile_format, get_format
from llmad.data.logs.perturb import KINDS as PERTURBATIONS, Perturbation, perturb
from llmad.data.logs.reader import LogReader, ReaderConfig, ReadSummary
from llmad.data.logs.sources import LogOptions, describe, load
from llmad.data.logs.templates import TemplateConfig, TemplateModel

__all__ = ["FORMATS", "LogFormat", "compile_format", "get_format", "PERTURBATIONS", "Perturbation", "perturb",
           "LogReader", "ReaderConfig", "ReadSummary", "LogOptions", "describe", "load", "TemplateConfig",
           "TemplateModel"]
