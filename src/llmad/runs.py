"""The run API: train, evaluate and score — what the CLI, the demo, the benchmarks, studies, the service
and Ray batch scoring all call. Nothing above this module holds logic of its own.

A record flows one way: dataset → split (:func:`prepare`) → detector (its text layer inside) → scores →
metrics. Every function takes an optional :class:`Reporter` for progress on long steps.

    from llmad import runs
    res = runs.train("flowbench/sample", "gbdt", seed=0, out="runs/gbdt")
    print(runs.evaluate("runs/gbdt")["f1"])
    scores = runs.score("runs/gbdt", "jobs.csv")          # a DataFrame: id, score, label
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmad import LlmadError, __version__, datasets, overlap
from llmad.data.splits import LEAKY, PARTS, PRECOMPUTED as PRECOMPUTED_SPLITS, PROTOCOLS, SplitConfig, \
    split as split_table
from llmad.detectors.base import Detector, load_detector
from llmad.detectors.catalog import make_detector
from llmad.eval import metrics

Update = Callable[[int, "int | None"], None]


class Reporter:
    """Where long steps report progress: ``with reporter.task("reading") as update: update(done, total)``.

    The base class is silent; the CLI passes one that draws progress bars.
    """

    @contextmanager
    def task(self, description: str) -> Iterator[Update]:
        yield lambda done, total=None: None

    def log(self, message: str) -> None:
        pass


SILENT = Reporter()


@dataclass
class Prepared:
    """A dataset loaded and split: what a detector is trained and evaluated on."""

    dataset: str
    split: str
    seed: int
    table: pd.DataFrame
    parts: dict[str, pd.DataFrame]
    log_options: Any = None

    @property
    def is_logs(self) -> bool:
        return datasets.is_logs(self.dataset)

    def part(self, name: str) -> pd.DataFrame:
        if name not in self.parts:
            raise LlmadError(f"unknown part {name!r}; choose {', '.join(PARTS)}")
        return self.parts[name]


def prepare(dataset: str, split: str | None = None, seed: int = 0, log_options: Any = None,
            reporter: Reporter = SILENT) -> Prepared:
    """Load ``dataset`` and split it. ``split`` None: ``run`` for Flow-Bench, the loader's split for logs
    (logs are split before windowing, so no other split applies to them)."""
    from llmad.data.logs.options import LogOptions

    name = datasets.canonical(dataset)
    if datasets.is_logs(name):
        log_options = log_options if isinstance(log_options, LogOptions) else LogOptions.from_dict(log_options)
    elif log_options is not None and any(v not in (None, False) for v in _as_dict(log_options).values()):
        raise LlmadError(f"{name} is a Flow-Bench workflow: log options (--format, --grouping, ...) do not apply")
    else:
        log_options = None
    with reporter.task(f"reading {name}") as update:
        table = datasets.load(name, progress=update, log_options=log_options)
    kind = split or table.attrs.get("split", "run")
    parts = split_table(table, SplitConfig(kind, seed))
    return Prepared(name, kind, seed, table, parts, log_options)


def _as_dict(opts: Any) -> dict:
    return opts if isinstance(opts, dict) else opts.to_dict()


@dataclass
class TrainResult:
    detector: Detector
    out: Path | None
    prepared: Prepared
    fit_seconds: float
    run: dict = field(default_factory=dict)


def train(dataset: str | Prepared, detector: str = "gbdt", config: Any = None, *, split: str | None = None,
          seed: int = 0, out: str | Path | None = None, log_options: Any = None,
          checkpoint_dir: str | Path | None = None, reporter: Reporter = SILENT, command: str | None = None,
          threshold: str = "valid", threshold_folds: int = 5, threshold_groups: str | None = None,
          train_fraction: float | None = None,
          init: str | Path | None = None, train_prefixes: float | None = None, **overrides: Any) -> TrainResult:
    """Fit ``detector`` (a name) with ``config`` (dict or config object; ``overrides`` on top) on the train
    part, choose its threshold, and save it to ``out`` when given.

    ``threshold``: ``valid`` (max F1 on the validation part) or ``cv`` (max F1 on out-of-fold scores over
    train + valid, ``threshold_folds`` extra fits; ``threshold_groups`` = ``text`` or ``words:N`` keeps each text,
    or each family of texts with the same first N words, in one fold; see :meth:`Detector.fit`).

    ``train_fraction``: fit on this share of the train part (a stratified sample seeded by ``seed``; the
    validation part and the threshold rule are unchanged) — what the sample-efficiency study varies.
    ``init``: a saved model of the same detector whose learnt weights training starts from (the fine-tuned
    language model: continued training, for the forgetting and transfer studies).
    ``train_prefixes``: logs with session windows only; add a copy of this share of the normal training
    sessions, each cut at a random moment of its life (:mod:`llmad.data.logs.prefixes`, seeded by ``seed``):
    what a live monitor, or a log that ends, shows of a session that is still open. Validation, test and the
    threshold rule are unchanged.

    ``seed`` seeds the split, and the detector too unless its configuration names a seed.
    ``dataset`` may be a :class:`Prepared` (already loaded and split) to train several detectors on one load.
    """
    prep = dataset if isinstance(dataset, Prepared) else prepare(dataset, split, seed, log_options, reporter)
    if "seed" not in overrides and (config is None or (isinstance(config, dict) and "seed" not in config)):
        overrides["seed"] = prep.seed
    if detector == "sft":  # launched by torchrun: join the process group (data-parallel fine-tuning)
        from llmad.models.distributed import maybe_init

        maybe_init()
    det = make_detector(detector, config, **overrides)
    fit_options: dict[str, Any] = {"threshold": threshold, "folds": threshold_folds, "groups": threshold_groups}
    if checkpoint_dir is not None:
        if detector != "sft":
            raise LlmadError("checkpoints are for the fine-tuned language model (--detector sft)")
        fit_options["checkpoint_dir"] = checkpoint_dir
    if init is not None:
        if detector != "sft":
            raise LlmadError("init (continue training a saved model) is for the fine-tuned language model "
                             "(--detector sft)")
        fit_options["init"] = init
    train_part, valid_part = prep.part("train"), prep.part("valid")
    n_train_part = len(train_part)
    if train_fraction is not None:
        train_part = fraction_of(train_part, train_fraction, prep.seed)
    prefixes = None
    if train_prefixes is not None:
        if not prep.is_logs:
            raise LlmadError("train_prefixes (--train-prefixes) cuts log sessions; a Flow-Bench job is one record")
        if threshold == "cv":
            raise LlmadError("train_prefixes does not go with the cv threshold: a session's cut copy and the "
                             "session itself could fall in different folds")
        from llmad.data.logs.prefixes import add_normal_prefixes

        train_part, prefixes = add_normal_prefixes(train_part, train_prefixes, prep.seed,
                                                   prep.log_options.masked_text())
    t0 = time.perf_counter()
    what = f"training {detector} on {len(train_part):,} records"
    if threshold == "cv":
        what += f" (+ {threshold_folds} fits for the cv threshold)"
    with reporter.task(what) as update:
        det.fit(train_part, valid_part, progress=update, **fit_options)
    seconds = round(time.perf_counter() - t0, 3)
    _note_truncation(det, reporter)
    det.run_ = {"dataset": prep.dataset, "split": prep.split, "seed": prep.seed, "n_train": int(len(train_part)),
                "n_valid": int(len(valid_part)), "fit_seconds": seconds, "command": command,
                "threshold": threshold}
    if threshold_groups is not None:
        det.run_["threshold_groups"] = threshold_groups
    if train_fraction is not None:
        det.run_["train_fraction"] = {"fraction": float(train_fraction), "of": int(n_train_part),
                                      "note": f"stratified sample of the train part (seed {prep.seed})"}
    if init is not None:
        det.run_["init"] = str(init)
    if prefixes is not None:
        det.run_["train_prefixes"] = prefixes
    # the whole train part, even when a fraction or a cap was fitted: its other records are not unseen data
    det.seen_ = overlap.record(prep.dataset, prep.split, prep.seed, {"train": prep.part("train"),
                                                                       "valid": valid_part})
    if prep.log_options is not None:
        det.run_["log_options"] = prep.log_options.to_dict()
        if det.run_["log_options"].get("text") is None and getattr(det.text_, "kind", None) == "windows":
            det.run_["log_options"]["text"] = det.text_.config.mode  # the mode it read, not a default that may move
        timeout = prep.table.attrs.get("logs", {}).get("session_timeout")
        if timeout is not None:
            det.run_["session_timeout"] = timeout
    if out is not None:
        from llmad.models.distributed import is_main

        if is_main():  # data-parallel: every process holds the same model; one writes it
            det.save(out)
    return TrainResult(det, Path(out) if out is not None else None, prep, seconds, det.run_)


def _note_truncation(det: Detector, reporter: Reporter) -> None:
    """Say when training texts filled the language model's token budget (recorded in ``info_`` either way)."""
    from llmad.models.distributed import is_main

    cut, used = det.info_.get("truncated_train", 0), det.info_.get("n_train_used", 0)
    if cut and used and is_main():
        reporter.log(truncation_note(det, cut, used, "training"))


# what a member's ``run`` must agree on for its split to be the ensemble's (logs are split by their loader, so
# for them the reading options decide it; a workflow's run split is drawn from the seed)
ENSEMBLE_SAME = ("dataset", "split")


def _split_key(run: dict) -> dict:
    key = {k: run.get(k) for k in ENSEMBLE_SAME}
    if run.get("split") in PRECOMPUTED_SPLITS:
        key["log_options"] = run.get("log_options")
    else:
        key["seed"] = run.get("seed")
    return key


def ensemble(models: list[str | Path | Detector], *, out: str | Path | None = None, config: Any = None,
             reporter: Reporter = SILENT, command: str | None = None) -> TrainResult:
    """Combine trained detectors into one (:class:`llmad.detectors.ensemble.Ensemble`): its score is the mean
    of the members' log-odds, its threshold the max-F1 one on the validation part of the split they share.

    Every member must have been trained on the same dataset and split (for a log dataset: read with the same
    options; for a workflow: the same split seed), so that none of them saw the test part; each may differ in
    anything else (seed, detector, adapter). Saved to ``out`` when given, members included."""
    from llmad.detectors.ensemble import Ensemble

    if len(models) < 2:
        raise LlmadError(f"an ensemble needs at least two trained models, got {len(models)}")
    names = [str(m) if not isinstance(m, Detector) else f"model {i + 1}" for i, m in enumerate(models)]
    members = [_detector(m) for m in models]
    keys = [_split_key(m.run_) for m in members]
    if not keys[0].get("dataset"):
        raise LlmadError(f"{names[0]}: the model does not record the dataset it was trained on")
    for name, key in zip(names[1:], keys[1:]):
        if key != keys[0]:
            diff = sorted(k for k in set(key) | set(keys[0]) if key.get(k) != keys[0].get(k))
            if "log_options" in diff:
                lo, lo0 = key.get("log_options") or {}, keys[0].get("log_options") or {}
                diff = [f"log option {k}" for k in sorted(set(lo) | set(lo0)) if lo.get(k) != lo0.get(k)] + \
                    [d for d in diff if d != "log_options"]
            raise LlmadError(f"{name} was trained on other data than {names[0]} ({', '.join(diff)} differ): an "
                             "ensemble's members must share one dataset and split, or one of them may have "
                             "trained on the others' test part")
    run0 = members[0].run_
    prep = prepare(run0["dataset"], run0.get("split"), int(run0.get("seed", 0)),
                   run0.get("log_options") if datasets.is_logs(run0["dataset"]) else None, reporter)
    ens = Ensemble.of(members, config)
    t0 = time.perf_counter()
    train_part, valid_part = prep.part("train"), prep.part("valid")
    with reporter.task(f"scoring {len(valid_part):,} validation records with {len(members)} models") as update:
        ens.fit(train_part, valid_part, progress=update)
    ens.run_ = {"dataset": prep.dataset, "split": prep.split, "seed": prep.seed, "n_train": int(len(train_part)),
                "n_valid": int(len(valid_part)),
                "fit_seconds": round(sum(float(m.run_.get("fit_seconds") or 0) for m in members), 3),
                "command": command, "threshold": "valid",
                "members": [str(m) if not isinstance(m, Detector) else None for m in models]}
    for k in ("log_options", "session_timeout"):
        if k in run0:
            ens.run_[k] = run0[k]
    seconds = round(time.perf_counter() - t0, 3)
    if out is not None:
        ens.save(out)
    return TrainResult(ens, Path(out) if out is not None else None, prep, seconds, ens.run_)


def fraction_of(train: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A stratified, seeded sample of ``fraction`` of the training records (at least one of each class)."""
    from llmad.data.splits import stratified_sample

    if not 0 < fraction <= 1:
        raise LlmadError(f"train fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return train
    n = max(2, int(round(len(train) * fraction)))
    ix = np.sort(stratified_sample(train["label"].to_numpy(), n, seed))
    out = train.iloc[ix].reset_index(drop=True)
    out.attrs = train.attrs
    return out


def _detector(model: str | Path | Detector) -> Detector:
    return model if isinstance(model, Detector) else load_detector(model)


def evaluate(model: str | Path | Detector, dataset: str | Prepared | None = None, *, part: str = "test",
             split: str | None = None, seed: int | None = None, perturbation: Any = None,
             limit: int | None = None, reporter: Reporter = SILENT) -> dict:
    """Score one part of a split with a trained detector (its validation threshold) and compute the metrics.

    Defaults come from the model: the dataset, split and seed it was trained with. ``limit``: score a
    stratified, seeded sample of that many records of the part (prompting is slow on a CPU). ``perturbation``
    (:class:`llmad.data.logs.perturb.Perturbation`) rewrites the test windows of a log dataset (or the test
    records of a workflow: ``missing_values``, ``jitter``) first.
    """
    det = _detector(model)
    if isinstance(dataset, Prepared):
        prep = dataset
    else:
        ds = dataset or det.run_.get("dataset")
        if not ds:
            raise LlmadError("no dataset given and the model does not record one")
        same = datasets.canonical(ds) == det.run_.get("dataset")
        sk = split or (det.run_.get("split") if same else None)
        sd = seed if seed is not None else int(det.run_.get("seed", 0))
        prep = prepare(ds, sk, sd, det.run_.get("log_options") if datasets.is_logs(ds) else None, reporter)
    data = prep.part(part)
    n_part = len(data)
    perturb_first = perturbation is not None and limit is not None and det.context_ is not None
    if perturb_first:  # the context of a sampled job reads its whole (perturbed) run
        data = _perturbed(data, perturbation, part, prep)
    if limit is not None:
        data = sample_part(det, data, limit, prep.seed)
    if perturbation is not None and not perturb_first:
        data = _perturbed(data, perturbation, part, prep)
    with reporter.task(f"scoring {len(data):,} {part} records") as update:
        scores, proba = det.score_with_types(data)
        update(len(data), len(data))
    y = data["label"].to_numpy()
    m = metrics.compute(y, scores, det.threshold_).to_dict()
    answers = det.details_.get("answer")  # chain of thought: the model's own parsed answers
    if answers is not None and len(answers) == len(data):
        ok = np.array([a is not None for a in answers])
        said = np.array([a == "Abnormal" for a in answers if a is not None], dtype=float)
        m["answers"] = {"parsed": int(ok.sum()), "unparseable": int((~ok).sum()),
                        "f1_of_parsed": metrics.compute(y[ok], said, 0.5).f1 if ok.any() else None,
                        "note": "the model's own 'Answer:' lines; unparseable ones are counted, never guessed"}
    floored = det.details_.get("labels_floored")  # a served model: label words absent from its top tokens
    if floored is not None and len(floored) == len(data):
        m["labels_floored"] = {"records": int(np.count_nonzero(floored)),
                               "note": "records whose label word was not among the server's top tokens; its "
                                       "log-probability was floored to the smallest returned one"}
    cut = truncated_count(det, len(data))
    if cut:
        lengths = sorted({n for n, _ in token_budgets(det)})
        m["truncated"] = {"records": cut, "of": int(len(data)),
                          "max_length": lengths[0] if len(lengths) == 1 else lengths,
                          "note": "records whose text filled all max_length tokens, so the model read them cut"}
        reporter.log(truncation_note(det, cut, len(data), part))
    m["oracle"] = metrics.oracle(y, scores, part)
    m.update({"split": prep.split, "part": part, "dataset": prep.dataset, "seed": prep.seed,
              "leaky": LEAKY[prep.split], "detector": det.name,
              "protocol": f"{PROTOCOLS[prep.split]}, threshold from {det.info_.get('threshold_from', 'valid')} (max F1)",
              "llmad_version": __version__})
    if perturbation is not None:
        m["perturbation"] = perturbation.name
    if limit is not None:
        m["limit"] = {"n": int(len(data)), "of": int(n_part), "note": f"stratified sample (seed {prep.seed})"}
    if det.target == "type":
        from llmad.data.flowbench import TYPES, type_labels

        m["target"] = "type"
        m["type"] = metrics.type_metrics(type_labels(data), proba.argmax(axis=1), TYPES)
    return m


def _share(part: int, whole: int) -> str:
    """A percentage for a note: never "0 %" for a count above zero, nor "100 %" short of the whole."""
    pct = 100 * part / whole
    return "<1 %" if 0 < pct < 1 else ">99 %" if 99 < pct < 100 else f"{pct:.0f} %"


def truncated_count(det: Detector, n: int) -> int:
    """How many of the ``n`` records the last scoring call read cut at the model's token budget (0 for a
    detector that does not cut its texts)."""
    cut = det.details_.get("truncated")
    return int(sum(cut)) if cut is not None and len(cut) == n else 0


def truncation_note(det: Detector, cut: int, n: int, what: str = "scored") -> str:
    """The one wording of "texts filled the token budget", for training (``what`` = training) and scoring."""
    fix = ("raise --max-length to let the model read them whole" if what == "training" else
           "a model trained with a higher --max-length would read them whole")
    budgets = token_budgets(det)
    if len(budgets) == 1:
        (length, how), = budgets
        return (f"note: {cut:,} of {n:,} {what} texts ({_share(cut, n)}) fill all {length} tokens "
                f"of --max-length, so they were read cut (--truncation {how}); {fix}")
    lengths = ", ".join(str(x) for x in sorted({x for x, _ in budgets}))
    return (f"note: {cut:,} of {n:,} {what} texts ({_share(cut, n)}) fill all the tokens of a member's --max-length "
            f"({lengths}), so that member read them cut; {fix}")


def token_budgets(det: Detector) -> list[tuple[int, str]]:
    """``(max_length, truncation)`` of each language model that reads ``det``'s texts: the detector itself, or
    an ensemble's members (nested ensembles included), each once."""
    members = getattr(det, "members_", None)
    if members:
        return sorted({b for m in members for b in token_budgets(m)})
    length = getattr(det.config, "max_length", None)
    return [(int(length), str(getattr(det.config, "truncation", "head")))] if length is not None else []


def sample_part(det: Detector, data: pd.DataFrame, limit: int, seed: int, balanced: bool = False) -> pd.DataFrame:
    """A stratified (or, with ``balanced``, up to half anomalous: ``splits.balanced_sample``), seeded sample of
    ``limit`` records of a part. A detector that reads run context gets it computed over the whole part first,
    so a sampled job keeps the context of its whole run (sampling first would leave most of its co-located
    jobs out)."""
    from llmad.data.splits import balanced_sample, stratified_sample

    if limit < 2:
        raise LlmadError(f"--limit must be at least 2, got {limit}")
    data = det._contextual(data)
    pick = balanced_sample if balanced else stratified_sample
    return data.iloc[pick(data["label"].to_numpy(), limit, seed)]


def _perturbed(data: pd.DataFrame, perturbation: Any, part: str, prep: Prepared) -> pd.DataFrame:
    from llmad.data.logs.options import LogOptions
    from llmad.data.logs.perturb import perturb

    if part != "test":
        raise LlmadError("perturbations apply to the test part only")
    if not prep.is_logs:
        from llmad.data.perturb_records import RECORD_KINDS, perturb_records

        if not perturbation.for_records:
            raise LlmadError(f"{perturbation.kind} rewrites log messages; job records take {', '.join(RECORD_KINDS)}")
        return perturb_records(data, perturbation.kind, perturbation.ratio, perturbation.seed)
    opts = prep.log_options or LogOptions()
    # the messages are rewritten; the model's own text layer renders them in its mode (templates are matched)
    return perturb(data, perturbation, opts.masked_text())


LOG_READ_KEYS = ("format", "grouping", "window", "step", "labels")


def is_log_model(det: Detector) -> bool:
    return "log_options" in det.run_ or (det.text_ is not None and det.text_.kind == "windows")


def score(model: str | Path | Detector, data: str | Path | pd.DataFrame, *, log_options: Any = None,
          reporter: Reporter = SILENT) -> pd.DataFrame:
    """Score new data with a trained detector: a table of records / windows, a CSV of job records, or a raw
    log file for a log model (read like its training data; ``log_options`` override how).

    Returns one row per record (``id``, ``run`` where known, ``score``, ``label``) or per window (``window_id``, ``source``,
    ``first_line``, ``last_line``, ``n_lines``, ``session``, ``score``, ``label``), with ``true_label`` when a
    file carries labels (a log's labels; a job file's ``anomaly_type`` or ``label``: :func:`record_labels`). ``attrs["read"]`` says what was read (lines, quarantined). Rows the model was trained or
    validated on say which part held them in a ``seen`` column, summed up in ``attrs["seen"]``
    (:func:`llmad.overlap.mark` and :func:`llmad.overlap.check`).
    """
    det = _detector(model)
    det._check_fitted()
    if isinstance(data, pd.DataFrame):
        table, read = data, {}
        log_model = "messages" in table.columns
    elif is_log_model(det) or (log_options is not None and _as_dict(log_options).get("format")):
        table, read = _read_log_file(det, Path(data), log_options, reporter)
        log_model = True
    else:
        from llmad.data.flowbench import read_records_csv, read_records_parquet

        path = Path(data)
        table = read_records_parquet(path) if path.suffix.lower() == ".parquet" else read_records_csv(path)
        read, log_model = {}, False
    with reporter.task(f"scoring {len(table):,} {'windows' if log_model else 'records'}") as update:
        try:
            scores, proba = det.score_with_types(table)
        except LlmadError as e:  # name the file: in a folder of inputs, which one lacks a column is the question
            if isinstance(data, pd.DataFrame) or str(data) in str(e):
                raise
            raise LlmadError(f"{data}: {e}") from None
        update(len(table), len(table))
    labels = (scores >= det.threshold_).astype(int)
    if log_model:
        out = pd.DataFrame({c: table[c].to_numpy() for c in ("window_id", "source", "first_line", "last_line",
                                                              "n_lines", "session", "complete", "cut")
                            if c in table.columns})
        out["score"], out["label"] = scores, labels
        if "label" in table.columns and (table["label"] != -1).any():
            out["true_label"] = table["label"].to_numpy()
    else:
        ids = table["job_id"].astype(str).to_numpy() if "job_id" in table.columns else np.arange(len(table)).astype(str)
        out = pd.DataFrame({"id": ids})
        if "run_id" in table.columns:  # the run each job belongs to: its run_id, else the file's (a run's CSV)
            out["run"] = table["run_id"].astype(str).to_numpy()
        elif not isinstance(data, pd.DataFrame):
            out["run"] = Path(data).stem
        out["score"], out["label"] = scores, labels
        parts = overlap.job_parts(det, table)  # the jobs the model was trained or validated on, by content
        if parts is not None:  # by content here; by run name too in overlap.mark below
            out["seen"] = pd.Series(parts, index=out.index, dtype=object)  # None (JSON null) where not seen
        true = None if isinstance(data, pd.DataFrame) else record_labels(table)  # a file's labels, as for logs
        if true is not None:
            out["true_label"] = true
        if proba is not None:
            from llmad.data.flowbench import TYPES

            out["type"] = np.asarray(TYPES, dtype=object)[proba.argmax(axis=1)]
            for k, name in enumerate(TYPES):
                out[f"p_{name}"] = proba[:, k]
    for name, values in det.details_.items():  # per-record extras (demonstration ids, reasoning, answers)
        if len(values) == len(out):
            out[name] = list(values)
    out.attrs = {"read": read, "threshold": float(det.threshold_)}
    note_truncated(det, out, reporter)
    overlap.mark(det, out)  # each row's part of the model's, if it has seen it (the ``seen`` column)
    seen = overlap.check(det, out)  # summed up from that column
    if seen is not None:
        out.attrs["seen"] = seen
    return out


def record_labels(table: pd.DataFrame) -> np.ndarray | None:
    """The labels a file of job records carries (1 anomalous, 0 normal, -1 unknown), or None when it carries
    none: from ``anomaly_type`` as Flow-Bench writes it (empty or ``None`` normal, ``cpu_K`` / ``hdd_K``
    anomalous; any other value unknown), else from a 0/1 ``label`` column. An ``anomaly_type`` column with no
    value at all is a file without labels (a live export), not a file of normal jobs."""
    if "anomaly_type" in table.columns:
        raw = table["anomaly_type"].astype("string").str.strip()
        if raw.isna().all() or (raw.fillna("") == "").all():
            return None
        at = raw.fillna("None").str.lower()
        out = np.full(len(table), -1, dtype=np.int64)
        out[at.isin(["none", ""]).to_numpy()] = 0
        out[at.str.match(r"^(cpu|hdd)(_\d+)?$").to_numpy()] = 1
        return out
    if "label" in table.columns:
        lab = pd.to_numeric(table["label"], errors="coerce")
        if lab.notna().any():
            return np.where(lab.isin([0, 1]), lab.fillna(-1), -1).astype(np.int64)
    return None


RECORD_SUFFIXES = (".csv", ".parquet")


def input_files(inputs: str | Path | list) -> list[Path]:
    """The files of ``inputs``: a file, a folder (its files, sorted, hidden ones skipped; sub-folders too)
    or a list of either."""
    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not any(x.startswith(".") for x in
                                                                                f.relative_to(p).parts))
            if not files:
                raise LlmadError(f"{p}: the folder holds no file to score")
            out += files
        elif p.is_file():
            out.append(p)
        else:
            raise LlmadError(f"{p}: no such file or folder")
    return out


def score_files(model: str | Path | Detector, inputs: str | Path | list, *, log_options: Any = None,
                reporter: Reporter = SILENT) -> pd.DataFrame:
    """:func:`score` over every file of ``inputs`` (see :func:`input_files`), one after another: the rows of
    each file in order, files in order, with a ``file`` column. ``attrs["read"]`` sums what was read.
    Each file is read alone (its runs' context, its log sessions), exactly as ``score`` on that file."""
    det = _detector(model)
    files = input_files(inputs)
    parts = []
    with reporter.task(f"scoring {len(files)} files") as update:
        for i, f in enumerate(files):
            parts.append(score_file_part(det, f, log_options))
            update(i + 1, len(files))
    out = combine_parts(parts, det)
    note_truncated(det, out, reporter)
    return out


def note_truncated(det: Detector, scored: pd.DataFrame, reporter: Reporter) -> None:
    """Say how many scored rows the model read cut (the ``truncated`` column of :func:`score`)."""
    cut = int(scored["truncated"].astype(bool).sum()) if "truncated" in scored.columns else 0
    if cut:
        reporter.log(truncation_note(det, cut, len(scored)))


def score_file_part(det: Detector, path: Path, log_options: Any = None) -> pd.DataFrame:
    """One file's scores with a ``file`` column (what the Ray actors compute too). What the model has seen is
    summed up once over all files, in :func:`combine_parts`."""
    res = score(det, path, log_options=log_options)
    read = res.attrs.get("read") or {}
    res.insert(0, "file", str(path))
    res.attrs = {"read": read}
    return res


def combine_parts(parts: list[pd.DataFrame], det: Detector, n_files: int | None = None) -> pd.DataFrame:
    reads = [p.attrs.get("read") or {} for p in parts]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if "true_label" in out.columns:  # a file without labels among labelled ones: its rows are unlabelled
        out["true_label"] = out["true_label"].fillna(-1).astype("int64")
    if "seen" in out.columns:  # each file's rows were marked when scored; a file with none seen has no column
        out["seen"] = out["seen"].astype(object).where(out["seen"].notna(), None)
    total: dict = {"files": len(parts) if n_files is None else n_files}
    for key in ("lines", "windows", "quarantined"):
        if any(key in r for r in reads):
            total[key] = int(sum(r.get(key, 0) for r in reads))
    out.attrs = {"read": total, "threshold": float(det.threshold_)}
    seen = overlap.check(det, out) if "seen" in out.columns else None
    if seen is not None:
        out.attrs["seen"] = seen
    return out


def scored_metrics(scored: pd.DataFrame, threshold: float) -> dict | None:
    """Metrics of :func:`score`'s output when the file carried labels (``true_label``), None otherwise.

    Sessions cut by the file's edges (``complete`` False) are scored but are not complete sessions, so the
    headline figures are on the complete ones; ``all`` includes the cut ones, and ``incomplete`` gives
    theirs apart. Windows without a label (-1) are left out and counted. When the model has seen some rows
    (a ``seen`` column), ``unseen`` holds the figures on the others (on complete sessions where the file has
    some: ``unseen_of``), the only ones that measure the model."""
    if "true_label" not in scored.columns:
        return None
    labelled = scored[scored["true_label"] != -1]
    out: dict = {"threshold": float(threshold), "unlabelled": int(len(scored) - len(labelled))}

    def m(part: pd.DataFrame) -> dict | None:
        if not len(part):
            return None
        d = metrics.compute(part["true_label"].to_numpy(), part["score"].to_numpy(), threshold).to_dict()
        return {k: d[k] for k in ("f1", "precision", "recall", "roc_auc", "pr_auc", "n", "n_anomalous", "confusion")}

    out["all"] = m(labelled)
    if "complete" in labelled.columns and labelled["complete"].notna().all():
        done = labelled["complete"].astype(bool)
        out["complete"], out["incomplete"] = m(labelled[done]), m(labelled[~done])
    if "seen" in labelled.columns:  # some rows were in the model's train / validation parts: the rest apart
        fresh = labelled[labelled["seen"].isna()]
        if out.get("complete") is not None:  # on the headline's footing: complete sessions where there are some
            fresh = fresh[fresh["complete"].astype(bool)]
        out["unseen"] = m(fresh)
        out["unseen_of"] = "complete" if out.get("complete") is not None else "all"
    return out


def log_read_options(det: Detector, log_options: Any = None):
    """How a new raw file is read for a log model: its saved options (text, fields, ...), ``log_options``
    on top, and the format / grouping of the dataset it was trained on where not given."""
    from llmad.data.logs.options import LogOptions
    from llmad.data.logs.scoring import scoring_options

    saved = {k: v for k, v in (det.run_.get("log_options") or {}).items()
             if k not in LOG_READ_KEYS + ("dedup", "train", "valid")}
    opts = LogOptions.from_dict(saved)
    if log_options is not None:
        opts = opts.merged(**_as_dict(log_options))
    return scoring_options(det.run_.get("dataset"), opts)


def _read_log_file(det: Detector, path: Path, log_options: Any, reporter: Reporter) -> tuple[pd.DataFrame, dict]:
    from llmad.data.logs.scoring import file_windows

    opts = log_read_options(det, log_options)
    with reporter.task(f"reading {path}") as update:
        w = file_windows(path, opts, progress=update, trained_timeout=det.run_.get("session_timeout"))
    info = w.attrs["logs"]
    read = {"lines": info["lines"], "windows": info["windows"],
            "quarantined": int(sum(s["quarantined"] for s in info["sources"]))}
    if info.get("edges") is not None:
        read["edges"] = info["edges"]
    return w, read
