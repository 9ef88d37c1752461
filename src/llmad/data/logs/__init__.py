"""System logs: formats, streaming reading with a quarantine, masking, drain3 templates, windows
and sessions (split before grouping), window text, unstable-log perturbations, datasets.

Modules: ``formats`` (line formats), ``reader`` (streaming, quarantine), ``masking``, ``drain``
(drain3 templates with a JSON state), ``lines`` (files -> lines), ``labels`` (session labels),
``grouping`` (sessions / fixed / time windows), ``windows`` (split, then group; text; dedup),
``text`` (window -> text), ``perturb`` (unstable logs), ``options`` (``LogOptions``), ``catalogue``
(the datasets by name), ``scoring`` (new raw files read like the training data), ``parse`` (a raw file
-> Loghub's structured table, ``llmad data parse``).
"""

from llmad.data.logs.catalogue import load
from llmad.data.logs.drain import TemplateConfig, TemplateModel
from llmad.data.logs.formats import BUILTIN as FORMATS, LogFormat, compile_format, get_format
from llmad.data.logs.options import LogOptions
from llmad.data.logs.parse import parse_file
from llmad.data.logs.perturb import KINDS as PERTURBATIONS, Perturbation, perturb
from llmad.data.logs.reader import LogReader, ReaderConfig, ReadSummary
from llmad.data.logs.windows import describe

__all__ = ["FORMATS", "LogFormat", "compile_format", "get_format", "PERTURBATIONS", "Perturbation", "perturb",
           "LogReader", "ReaderConfig", "ReadSummary", "LogOptions", "describe", "load", "TemplateConfig",
           "TemplateModel", "parse_file"]
