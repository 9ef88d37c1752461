"""A study's configuration: a TOML file read into one frozen, strictly checked dataclass.

    study = "stability"                 # optional; when given it must match the study run
    datasets = ["flowbench/1000genome"]
    seeds = [0, 1, 2]

    [[detectors]]                        # one table per detector of the grid
    label = "gbdt"                       # its name in tables and plots (default: the detector's name)
    detector = "gbdt"
    config = { features = "paper" }      # the detector's settings, as in `llmad train --config`

Unknown keys are refused with the list of valid ones, like every other llmad config.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from llmad import LlmadError
from llmad.config import check_choices, from_dict, option, to_dict


@dataclass(frozen=True)
class DetectorSpec:
    detector: str = option("gbdt", "Detector name (gbdt, iforest, tfidf, sft, icl).")
    label: str = option("", "Name in tables and plots (default: the detector's name).")
    config: dict | None = option(None, "The detector's settings (as in `llmad train --config`).")
    only: str = option("", "Run it only on the datasets of one family: flowbench or logs (default: all).",
                       ("", "flowbench", "logs"))

    def __post_init__(self):
        check_choices(self)

    def applies_to(self, dataset: str) -> bool:
        from llmad import datasets

        return not self.only or ("logs" if datasets.is_logs(dataset) else "flowbench") == self.only

    @property
    def name(self) -> str:
        return self.label or self.detector

    def settings(self) -> dict:
        return dict(self.config or {})


@dataclass(frozen=True)
class StudyConfig:
    study: str = option("", "The study this file is for (checked against the study run, when given).")
    datasets: tuple[str, ...] = option(("flowbench/sample",), "Datasets of the grid.")
    detectors: tuple[DetectorSpec, ...] = option((), "Detectors of the grid ([[detectors]] tables).")
    seeds: tuple[int, ...] = option((0,), "Seeds (of the split and the detector).")
    split: str | None = option(None, "Split (default: run for Flow-Bench, the loader's for logs).")
    log_options: dict | None = option(None, "Log datasets: how windows are read and rendered, as `llmad train` "
                                            "takes them (e.g. { text = \"ids\", window = 20 }).")
    threshold: str = option("valid", "Threshold rule: valid or cv.", ("valid", "cv"))
    limit: int | None = option(None, "Evaluate on a stratified sample of this many test records (slow detectors).")
    fractions: tuple[float, ...] = option((0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
                                          "sample-efficiency, transfer: shares of the training records.")
    perturbations: tuple[str, ...] = option(("insert_words", "drop_events", "duplicate_events", "shuffle_events",
                                             "missing_values", "jitter"),
                                            "robustness: perturbation kinds (each dataset gets those of its family).")
    ratios: tuple[float, ...] = option((0.0, 0.05, 0.1, 0.2, 0.3), "robustness: perturbation ratios.")
    probes: tuple[str, ...] = option(("", "N/A", "[MASK]", "none"), "bias: content-free inputs probed.")
    inits: int = option(5, "bias: head initialisations (seeds 0 .. inits-1).")
    max_prefix: int = option(32, "online: most log lines of a window read line by line.")
    prompts: tuple[str, ...] = option(("paper-zero", "paper-few"), "icl: prompt templates.")
    demos: tuple[str, ...] = option(("random", "stratified", "knn"), "icl: demonstration selections.")
    calibrate: tuple[bool, ...] = option((False, True), "icl: contextual calibration off / on.")

    def __post_init__(self):
        if not self.datasets:
            raise LlmadError("a study needs at least one dataset")
        if not self.seeds:
            raise LlmadError("a study needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise LlmadError(f"seeds repeat: {list(self.seeds)}")
        labels = [d.name for d in self.detectors]
        dup = sorted({n for n in labels if labels.count(n) > 1})
        if dup:
            raise LlmadError(f"detector labels repeat: {dup}; give each [[detectors]] table its own label")
        if any(not 0 < f <= 1 for f in self.fractions):
            raise LlmadError(f"fractions must be in (0, 1], got {list(self.fractions)}")
        if any(not 0 <= r <= 1 for r in self.ratios):
            raise LlmadError(f"ratios must be in [0, 1], got {list(self.ratios)}")
        if self.inits < 1 or self.max_prefix < 1:
            raise LlmadError("inits and max_prefix must be at least 1")
        if self.limit is not None and self.limit < 2:
            raise LlmadError(f"limit must be at least 2, got {self.limit}")

    def to_dict(self) -> dict:
        return to_dict(self)


def read_config(path: str | Path | None, study: str) -> tuple[StudyConfig, str]:
    """The config of ``path`` (TOML) and its text; None: the study's defaults (one gbdt on the sample)."""
    if path is None:
        return parse_config({}, study, "defaults"), ""
    path = Path(path)
    if not path.is_file():
        raise LlmadError(f"{path}: no such config file")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LlmadError(f"{path}: invalid TOML ({e})") from None
    return parse_config(data, study, str(path)), text


def parse_config(data: dict[str, Any], study: str, where: str = "config") -> StudyConfig:
    data = dict(data)
    specs = data.pop("detectors", None)
    if specs is None:
        specs = [{"detector": "gbdt"}]
    if not isinstance(specs, list) or not all(isinstance(d, dict) for d in specs):
        raise LlmadError(f"{where}: detectors must be [[detectors]] tables")
    detectors = tuple(from_dict(DetectorSpec, d, f"{where}: detectors[{i}]") for i, d in enumerate(specs))
    for i, d in enumerate(detectors):
        if d.config is not None and not isinstance(d.config, dict):
            raise LlmadError(f"{where}: detectors[{i}].config must be a table of settings")
        from llmad.detectors.catalog import entry

        entry(d.detector)
    known = {f.name for f in fields(StudyConfig)} - {"detectors"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LlmadError(f"{where}: unknown setting(s) {unknown}; valid: detectors, {', '.join(sorted(known))}")
    cfg = from_dict(StudyConfig, {**data}, where, detectors=detectors)
    if cfg.study and cfg.study != study:
        raise LlmadError(f"{where} is a config for the {cfg.study!r} study, not {study!r}")
    return cfg
