"""Which cells a study has: its grid, built from the config, one parameter dict per cell.

A cell's parameters say everything that makes its result (dataset, detector and settings, seed, split,
threshold rule and the study's own knob), so their hash is the cell's key: a finished cell is recognised
on a rerun, and changing any setting makes a new cell rather than reusing a stale one.
"""

from __future__ import annotations

from llmad import LlmadError, datasets
from llmad.data.logs.perturb import KINDS as LOG_KINDS
from llmad.data.perturb_records import RECORD_KINDS
from llmad.studies.config import DetectorSpec, StudyConfig

STUDIES = ("efficacy", "stability", "sample-efficiency", "robustness", "cross-dataset", "bias", "forgetting",
           "transfer", "online", "icl")
ABOUT = {
    "efficacy": "the main table: P / R / F1 / ROC-AUC / PR-AUC, training time, trainable parameters",
    "stability": "mean ± std over seeds (at least 3), box plots",
    "sample-efficiency": "learning curves over shares of the training records",
    "robustness": "F1 under unstable input: each perturbation of the test logs or job records at several ratios",
    "cross-dataset": "train on A, test on B, for every pair of one family: a heat map",
    "bias": "a fresh classification head on content-free input, over head initialisations, before and after "
            "fine-tuning",
    "forgetting": "fine-tune on A, then on B (from A's weights), re-test on A",
    "transfer": "a model from A tested on B as is, then re-tuned on shares of B (and from scratch beside it)",
    "online": "early detection: growing prefixes of a record (feature by feature) or a window (line by line)",
    "icl": "prompts × demonstration selection × calibration for the in-context detector",
}
SFT_ONLY = ("bias", "forgetting", "transfer")


def _base(study: str, cfg: StudyConfig, spec: DetectorSpec, dataset: str, seed: int) -> dict:
    return {"study": study, "dataset": datasets.canonical(dataset), "detector": spec.name,
            "spec": {"detector": spec.detector, "config": spec.settings()}, "seed": int(seed),
            "split": cfg.split, "threshold": cfg.threshold, "limit": cfg.limit,
            "log_options": dict(cfg.log_options) if cfg.log_options and datasets.is_logs(dataset) else None}


def _kinds_for(dataset: str, cfg: StudyConfig) -> list[str]:
    """The config's perturbations that apply to this dataset (log windows or job records)."""
    kinds = LOG_KINDS if datasets.is_logs(dataset) else RECORD_KINDS
    return [k for k in cfg.perturbations if k in kinds]


def _families(cfg: StudyConfig) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in cfg.datasets:
        out.setdefault("logs" if datasets.is_logs(d) else "flowbench", []).append(datasets.canonical(d))
    return out


def _pairs(study: str, cfg: StudyConfig) -> list[tuple[str, str]]:
    pairs = [(a, b) for fam in _families(cfg).values() for a in fam for b in fam if a != b]
    if not pairs:
        raise LlmadError(f"the {study} study needs at least two datasets of one family (workflows among "
                         "themselves, logs among themselves)")
    return pairs


def plan(study: str, cfg: StudyConfig) -> list[dict]:
    """Every cell of ``study`` under ``cfg``, in a fixed order; a config that cannot make the study is an
    error naming what is missing."""
    if study not in STUDIES:
        raise LlmadError(f"unknown study {study!r}; known: {', '.join(STUDIES)}")
    if not cfg.detectors:
        raise LlmadError("a study needs at least one [[detectors]] table")
    specs = cfg.detectors
    if study in SFT_ONLY:
        bad = [s.name for s in specs if s.detector != "sft"]
        if bad:
            raise LlmadError(f"the {study} study is about fine-tuned language models: detectors {bad} are not "
                             "sft")
    if study == "icl":
        bad = [s.name for s in specs if s.detector != "icl"]
        if bad:
            raise LlmadError(f"the icl study varies prompts of the in-context detector: {bad} are not icl")
    if study == "stability" and len(cfg.seeds) < 3:
        raise LlmadError(f"the stability study needs at least 3 seeds, the config has {len(cfg.seeds)}")
    if study == "robustness":
        for d in cfg.datasets:
            if not _kinds_for(d, cfg):
                raise LlmadError(f"no perturbation of the config applies to {d}: log windows take "
                                 f"{', '.join(LOG_KINDS)}, job records {', '.join(RECORD_KINDS)}")
    cells: list[dict] = []
    plain = plan_cells(study, cfg, specs)
    for c in plain:
        spec = next(s for s in specs if s.name == c["detector"])
        if spec.applies_to(c["dataset"]):
            cells.append(c)
    if not cells:
        raise LlmadError(f"the {study} study has no cell: every detector is limited to datasets of another family")
    return cells


def plan_cells(study: str, cfg: StudyConfig, specs) -> list[dict]:
    cells: list[dict] = []
    if study in ("efficacy", "stability", "online"):
        for d in cfg.datasets:
            for s in specs:
                for seed in cfg.seeds:
                    extra = {"max_prefix": cfg.max_prefix} if study == "online" and datasets.is_logs(d) else {}
                    cells.append({**_base(study, cfg, s, d, seed), **extra})
    elif study == "sample-efficiency":
        for d in cfg.datasets:
            for s in specs:
                for f in cfg.fractions:
                    for seed in cfg.seeds:
                        cells.append({**_base(study, cfg, s, d, seed), "fraction": float(f)})
    elif study == "robustness":
        for d in cfg.datasets:
            for s in specs:
                for seed in cfg.seeds:
                    cells.append({**_base(study, cfg, s, d, seed), "perturbations": _kinds_for(d, cfg),
                                  "ratios": [float(r) for r in cfg.ratios]})
    elif study == "cross-dataset":
        fams = _families(cfg)
        _pairs(study, cfg)
        for fam in fams.values():
            if len(fam) < 2:
                continue
            for d in fam:
                for s in specs:
                    for seed in cfg.seeds:
                        cells.append({**_base(study, cfg, s, d, seed), "test_on": list(fam)})
    elif study == "bias":
        for d in cfg.datasets:
            for s in specs:
                for init in range(cfg.inits):
                    cells.append({**_base(study, cfg, s, d, cfg.seeds[0]), "init": init,
                                  "probes": list(cfg.probes)})
    elif study == "forgetting":
        for a, b in _pairs(study, cfg):
            for s in specs:
                for seed in cfg.seeds:
                    cells.append({**_base(study, cfg, s, a, seed), "then": b})
    elif study == "transfer":
        for a, b in _pairs(study, cfg):
            for s in specs:
                for seed in cfg.seeds:
                    cells.append({**_base(study, cfg, s, a, seed), "to": b,
                                  "fractions": [float(f) for f in cfg.fractions]})
    elif study == "icl":
        for d in cfg.datasets:
            for s in specs:
                for prompt in cfg.prompts:
                    zero = prompt.endswith("-zero")
                    for demos in (("stratified",) if zero else cfg.demos):
                        for cal in cfg.calibrate:
                            for seed in cfg.seeds:
                                c = _base(study, cfg, s, d, seed)
                                c["spec"]["config"] = {**c["spec"]["config"], "prompt": prompt, "demos": demos,
                                                       "calibrate": bool(cal)}
                                c.update({"prompt": prompt, "demos": demos if not zero else "-",
                                          "calibrate": bool(cal)})
                                cells.append(c)
    return cells
