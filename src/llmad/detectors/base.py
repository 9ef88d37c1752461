"""The detector protocol, PyOD / scikit-learn style.

A detector declares its frozen ``Config`` (:mod:`llmad.detectors.configs`) and writes ``_fit(train, valid)``,
``decision_function(x)`` (higher = more anomalous), ``_save_state`` and ``_load_state``; the base class owns
the configuration, the validation threshold, ``predict``, ``predict_proba``, ``get_params`` / ``clone`` and
the saved form. Learned state ends in ``_``; ``info_`` holds the small learned facts saved as JSON and
``run_`` the run metadata (data, split, seed, command).

Saved form (``detector.json``, schema 2): ``format``, ``schema``, ``detector``, ``config``, ``threshold``,
``state`` (``info_``), ``text`` (the text layer, for detectors that read text), ``run``, ``versions``;
weights beside it in safetensors or a library's own text format — never pickle. Folders written by
llmad 0.1.0 (schema 1: ``params`` / ``info``) still load.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from llmad import LlmadError, __version__
from llmad.config import from_dict, to_dict
from llmad.eval.metrics import best_f1_threshold, compute

CONFIG_FILE = "detector.json"
FORMAT = "llmad.detector"
SCHEMA = 2
# keys of a schema-1 ``info`` that describe the run rather than what the detector learnt
#: how the threshold is chosen (:meth:`Detector.fit`)
THRESHOLDS = ("valid", "cv")
def group_words(groups: str) -> int | None:
    """What the cv threshold's folds may keep together besides runs: ``text`` (the records of one text) or
    ``words:N`` (the records whose texts begin with the same N words, a family of messages). Returns N, None for
    ``text``; a clear error for anything else."""
    if groups == "text":
        return None
    head, _, n = groups.partition(":")
    if head == "words" and n.isdigit() and int(n) >= 1:
        return int(n)
    raise LlmadError(f"unknown cv threshold groups {groups!r}; choose text or words:N (N >= 1 leading words)")
RUN_KEYS = ("dataset", "split", "seed", "n_train", "n_valid", "fit_seconds", "log_options", "command")


class Detector:
    name: ClassVar[str] = "base"
    Config: ClassVar[type]
    FILES: ClassVar[tuple[str, ...]] = ()  # what _save_state writes beside detector.json (checked on load)
    #: what ``decision_function`` returns: ``probability`` (of anomalous), ``log-odds`` (of anomalous) or
    #: ``score`` (only its order means something); :meth:`log_odds` and ensembles rely on it
    SCORES: ClassVar[str] = "score"

    def __init__(self, config: Any = None, **overrides: Any):
        self.config = from_dict(self.Config, config, f"{self.name} config", **overrides)
        self.threshold_: float | None = None
        self.info_: dict = {}
        self.run_: dict = {}
        self.text_ = None  # the fitted text layer of detectors that read text
        self.context_ = None  # the run-context stage (llmad.context.RunContext) when features / text read it
        #: per-record extras of the last ``decision_function`` call, one list per name, in record order (an
        #: in-context model's demonstration ids, reasoning and parsed answers); ``runs.score`` writes them
        #: as columns and ``runs.evaluate`` counts unparseable answers
        self.details_: dict[str, list] = {}
        #: what the model was trained and validated on (:mod:`llmad.overlap`; saved as ``seen.json``)
        self.seen_: dict | None = None

    # -- to implement ------------------------------------------------------------------------
    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None, **fit_options: Any) -> None:
        raise NotImplementedError

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _save_state(self, path: Path) -> None:
        raise NotImplementedError

    def _load_state(self, path: Path) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def get_params(self) -> dict:
        """The configuration as a plain dict (JSON-ready)."""
        return to_dict(self.config)

    def clone(self) -> Detector:
        """A fresh, unfitted detector with the same configuration."""
        return type(self)(self.config)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None, *, threshold: str = "valid",
            folds: int = 5, groups: str | None = None, **fit_options: Any) -> Detector:
        """Fit on ``train`` and choose ``threshold_`` (predict anomalous when the score is at least it).

        ``threshold="valid"``: max F1 on ``valid`` (on train only when there is none). ``threshold="cv"``:
        max F1 on out-of-fold scores over train + valid — ``folds`` copies of the detector are fitted, each
        on all but one stratified fold and scoring that fold — so the threshold is chosen on every labelled
        record the split allows, not on a few validation anomalies; the model itself is fitted on ``train`` as
        usual. ``groups="text"`` (log windows) keeps every record of one text in one fold, so each fold's held
        records are texts its copy never read, as a test part of new messages is: the out-of-fold scores then
        show how the detector scores what it has not seen, not what it learnt by heart. ``groups="words:N"``
        keeps together the records whose texts begin with the same N words (with ``--fields``, e.g. ``KERNEL
        FATAL data``): a family of messages, so a held fold's messages are of families its copy never read. A detector that
        early-stops on validation (``sft``) has its fold copies train to the epoch it kept, on the same
        learning-rate schedule, since the folds have no validation part. Neither ever sees a test record.

        ``fit_options`` reach the detector's ``_fit`` (``progress=callable(done, total)`` for all,
        ``checkpoint_dir=`` for the fine-tuned one).
        """
        if len(train) == 0:
            raise LlmadError("cannot fit on an empty training set")
        if "label" not in train.columns:
            raise LlmadError("the training records need a 'label' column (0 normal, 1 anomalous)")
        if threshold not in THRESHOLDS:
            raise LlmadError(f"unknown threshold rule {threshold!r}; choose {', '.join(THRESHOLDS)}")
        if groups is not None:
            group_words(groups)
        if groups is not None and threshold != "cv":
            raise LlmadError("threshold groups shape the cv threshold's folds; use them with threshold='cv' "
                             "(--threshold cv)")
        self.threshold_ = None
        plan = self._cv_plan(train, valid, folds, groups) if threshold == "cv" else None  # a bad fold setup fails first
        self._fit(train, valid, **fit_options)
        if plan is not None:
            # after the model: a detector that early-stops on validation tells its fold copies where to stop
            # (the folds have no validation part of their own)
            fold_options = {**{k: v for k, v in fit_options.items() if k != "checkpoint_dir"},
                            **self._fold_fit_options()}
            y, oof = self._cv_scores(*plan, fold_options)
            self.threshold_ = best_f1_threshold(y, oof)
            how = f"cv ({folds} folds over train+valid, {len(y)} records"
            if groups:
                how += f", folds grouped by {groups}"
            if "stop_epoch" in fold_options:
                how += f"; fold models stop at epoch {fold_options['stop_epoch']:g}, where validation stopped this one"
            self.info_["threshold_from"] = how + ")"
            # how the out-of-fold scores looked: a reader can tell a clean cut from a forced one
            m = compute(y, oof, self.threshold_)
            self.info_["cv"] = {"folds": int(folds), "groups": groups, "records": int(len(y)),
                                "anomalous": int(y.sum()),
                                "oof_f1": round(float(m.f1), 6), "oof_roc_auc": round(float(m.roc_auc), 6),
                                "oof_confusion": {k: int(v) for k, v in m.confusion.items()},
                                "stop_epoch": fold_options.get("stop_epoch")}
            return self
        tune = valid if valid is not None and len(valid) else train
        src = "valid" if tune is valid else "train"
        full, tune = tune, self._tuning_sample(tune)
        self.threshold_ = best_f1_threshold(tune["label"].to_numpy(), self.decision_function(tune))
        self.info_["threshold_from"] = src if len(tune) == len(full) else f"{src} (stratified sample of {len(tune)})"
        return self

    def _fold_fit_options(self) -> dict:
        """Extra fit options for the cv threshold's fold copies, read from this fitted detector (none here)."""
        return {}

    def _tuning_sample(self, tune: pd.DataFrame) -> pd.DataFrame:
        """The records the threshold is chosen on (all; a slow detector may take a stratified sample)."""
        return tune

    def _cv_plan(self, train: pd.DataFrame, valid: pd.DataFrame | None, folds: int, groups: str | None = None):
        """The pool (train + valid), its labels and its folds, for the ``cv`` threshold; a clear error when the
        labels cannot fill the folds."""
        pool = pd.concat([train, valid], ignore_index=True) if valid is not None and len(valid) else \
            train.reset_index(drop=True)
        # the loader's record of how windows became text; not a context mark (valid may lack the context that
        # train carries)
        from llmad.context.workflow import CONTEXT_ATTR

        pool.attrs = {k: v for k, v in train.attrs.items() if k != CONTEXT_ATTR}
        y = pool["label"].to_numpy().astype(int)
        n_min = int(min(y.sum(), len(y) - y.sum()))
        if folds < 2:
            raise LlmadError(f"a cv threshold needs at least 2 folds, got {folds}")
        if n_min < folds:
            raise LlmadError(f"a cv threshold over {folds} folds needs at least {folds} records of each class in "
                             f"train + valid; the smaller class has {n_min}")
        seed = int(getattr(self.config, "seed", 0))
        return pool, y, list(_cv_folds(pool, y, folds, seed, groups))

    def _cv_scores(self, pool: pd.DataFrame, y: np.ndarray, splits: list,
                   fit_options: dict) -> tuple[np.ndarray, np.ndarray]:
        """Labels and out-of-fold scores of the pool (for the ``cv`` threshold)."""
        scores = np.empty(len(pool), dtype="float64")

        def fold(src: pd.DataFrame, fit_ix, held_ix):
            part = src.iloc[fit_ix].reset_index(drop=True)
            part.attrs = src.attrs
            held = src.iloc[held_ix].reset_index(drop=True)
            held.attrs = src.attrs
            det = self.clone()
            det._fit(part, None, **fit_options)
            scores[held_ix] = det.decision_function(held)
            return det

        first = fold(pool, *splits[0])
        if first.context_ is not None:
            # a detector that reads run context: compute it once over the whole pool, each job within its own
            # run (no label enters it), and let every fold reuse it (the mark survives row selection). Folds
            # keep runs whole, so this is the context each fold would compute; a table without run_id is one
            # run, which the first fold cut: it is fitted again on the whole-run context
            pool = first.context_.transform(pool)
            if "run_id" not in pool.columns:
                fold(pool, *splits[0])
        for fit_ix, held_ix in splits[1:]:
            fold(pool, fit_ix, held_ix)
        return y, scores

    # -- target ------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return getattr(self.config, "target", "anomaly")

    def _labels(self, x: pd.DataFrame) -> np.ndarray:
        """What the detector learns: 0/1 anomaly labels, or 0/1/2 (normal / cpu / hdd) with ``target="type"``."""
        if self.target == "type":
            from llmad.data.flowbench import type_labels

            return type_labels(x)
        return x["label"].to_numpy().astype(int)

    def predict_type_proba(self, x: pd.DataFrame) -> np.ndarray:
        """(n, 3) probabilities of normal / cpu / hdd (a detector trained with ``target="type"``)."""
        self._check_fitted()
        if self.target != "type":
            raise LlmadError(f"this {self.name} detector was trained for anomalies, not types: train with target=type")
        return self._type_proba(x)

    def predict_type(self, x: pd.DataFrame) -> np.ndarray:
        """The most probable type of each record: ``normal``, ``cpu`` or ``hdd``."""
        from llmad.data.flowbench import TYPES

        return np.asarray(TYPES, dtype=object)[self.predict_type_proba(x).argmax(axis=1)]

    def score_with_types(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Anomaly scores and, for a type model, the (n, 3) type probabilities, from ONE pass over ``x``
        (a type model's score is 1 - P(normal), so the scores need not be computed a second time)."""
        if self.target != "type":
            return self.decision_function(x), None
        proba = self.predict_type_proba(x)
        return 1.0 - proba[:, 0], proba

    def _type_proba(self, x: pd.DataFrame) -> np.ndarray:
        raise LlmadError(f"{self.name} does not predict anomaly types")

    def log_odds(self, x: pd.DataFrame) -> np.ndarray:
        """log P(anomalous) - log P(normal) of each record: the scale on which an ensemble averages its
        members (:mod:`llmad.detectors.ensemble`). Detectors whose scores are only an order refuse."""
        if self.SCORES not in ("log-odds", "probability"):
            raise LlmadError(f"{self.name} scores are an order, not probabilities or log-odds, so they cannot be "
                             "averaged with other models' scores")
        s = np.asarray(self.decision_function(x), dtype=np.float64)
        if self.SCORES == "log-odds":
            return s
        p = np.clip(s, 1e-15, 1 - 1e-15)
        return np.log(p) - np.log1p(-p)

    def _check_fitted(self) -> None:
        if self.threshold_ is None:
            raise LlmadError(f"{self.name} detector is not fitted")

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return (self.decision_function(x) >= self.threshold_).astype(int)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """(n, 2) array: [P(normal), P(anomalous)]; a logistic squash centred on the threshold."""
        self._check_fitted()
        s = self.decision_function(x)
        scale = float(self.info_.get("score_scale") or 1.0)
        p = 1.0 / (1.0 + np.exp(-(s - self.threshold_) / scale))
        return np.stack([1 - p, p], axis=1)

    # -- context and text --------------------------------------------------------------------
    def _fit_context(self, train: pd.DataFrame, needed: bool) -> None:
        """Fit the run-context stage when the detector reads context (its mode and the workflow DAG)."""
        from llmad.context import RunContext

        self.context_ = RunContext.fit(train, self.config.context) if needed else None

    def _contextual(self, x: pd.DataFrame) -> pd.DataFrame:
        """``x`` with its run context added (computed within ``x``'s own runs), when the detector reads it."""
        return self.context_.transform(x) if self.context_ is not None else x

    def _fit_text(self, train: pd.DataFrame) -> None:
        from llmad.text.layer import text_layer_for
        from llmad.text.records import CONTEXT_TEMPLATES

        reads_records = "messages" not in train.columns and "text" not in train.columns
        self._fit_context(train, reads_records and self.config.template in CONTEXT_TEMPLATES)
        train = self._contextual(train)
        self.text_ = text_layer_for(train, self.config.template).fit(train)

    def _texts(self, x: pd.DataFrame) -> list[str]:
        if self.text_ is None:
            raise LlmadError(f"{self.name} detector is not fitted")
        return self.text_.transform(self._contextual(x))

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write everything :func:`load_detector` needs into the folder ``path``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_state(path)
        doc = {"format": FORMAT, "schema": SCHEMA, "detector": self.name, "config": self.get_params(),
               "threshold": self.threshold_, "state": self.info_,
               "text": self.text_.to_dict() if self.text_ is not None else None,
               "context": self.context_.to_dict() if self.context_ is not None else None,
               "run": self.run_, "versions": versions()}
        if self.text_ is not None:
            self.text_.save(path)
        if self.context_ is not None:
            self.context_.save(path)
        if self.seen_:
            from llmad import overlap

            overlap.save(self.seen_, path)
        (path / CONFIG_FILE).write_text(json.dumps(doc, indent=2, default=str))
        return path


def versions() -> dict:
    """Versions of llmad, Python and the libraries a result depends on (those loaded)."""
    import sys

    out = {"llmad": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "pandas": pd.__version__}
    for mod in ("torch", "transformers", "peft", "onnxruntime", "lightgbm", "sklearn", "pyod", "drain3"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


def read_saved(path: str | Path) -> dict:
    """The ``detector.json`` of a model folder, upgraded to the current schema."""
    path = Path(path)
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise LlmadError(f"{path}: not a saved llmad detector (no {CONFIG_FILE})")
    try:
        doc = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise LlmadError(f"{cfg_file}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    if not isinstance(doc, dict):
        raise LlmadError(f"{cfg_file}: not a saved llmad detector")
    schema = doc.get("schema", 1 if "params" in doc else None)
    if schema == 1:
        doc = _upgrade_v1(doc, path)
    elif schema != SCHEMA or doc.get("format") != FORMAT:
        raise LlmadError(f"{cfg_file}: saved by a newer or unknown llmad (schema {schema!r}); this is llmad "
                         f"{__version__}, which reads schemas 1-{SCHEMA}: upgrade llmad")
    for key in ("detector", "config", "threshold"):
        if key not in doc:
            raise LlmadError(f"{cfg_file}: missing {key!r}")
    return doc


def _upgrade_v1(doc: dict, path: Path) -> dict:
    """llmad 0.1.0 wrote ``params`` and one ``info`` dict; split it into config, state, text and run."""
    name = doc.get("detector")
    params = dict(doc.get("params") or {})
    info = dict(doc.get("info") or {})
    run = {k: info.pop(k) for k in RUN_KEYS if k in info}
    text = None
    if name in ("sft", "tfidf"):
        if params.get("template") == "context":  # 0.1.0's 'context' template is now 'readable-peers'
            params["template"] = "readable-peers"
        if name == "sft":
            params.pop("features", None)
            params.get("train", {}).pop("seed", None)
        tstate = info.pop("template_state", None)
        if "log_options" in run:
            lo = run["log_options"] or {}
            text = {"kind": "windows", "mode": lo.get("text", "masked"), "separator": lo.get("separator", " | "),
                    "collapse_repeats": lo.get("collapse_repeats", True), "max_chars": lo.get("max_chars")}
        else:
            text = {"kind": "records", "template": params.get("template", "deciles" if name == "sft" else "readable"),
                    "state": tstate}
    return {"format": FORMAT, "schema": SCHEMA, "detector": name, "config": params,
            "threshold": doc.get("threshold"), "state": info, "text": text, "run": run,
            "versions": {"llmad": doc.get("llmad_version", "0.1.0")}, "upgraded_from": 1}


def load_detector(path: str | Path) -> Detector:
    """Load any saved detector from its folder (JSON + weights); a missing part is a clear error."""
    from llmad.detectors.catalog import detector_class
    from llmad.text.layer import load_text_layer

    path = Path(path)
    doc = read_saved(path)
    cls = detector_class(doc["detector"])
    config = dict(doc["config"])
    if doc["detector"] == "sft" and "pooling" not in config:  # saved before pooling was a setting: [CLS]
        config["pooling"] = "cls"
    det = cls(config)
    det.threshold_ = doc["threshold"]
    det.info_ = dict(doc.get("state") or {})
    det.run_ = dict(doc.get("run") or {})
    if doc.get("text"):
        det.text_ = load_text_layer(doc["text"], path)
    if doc.get("context"):
        from llmad.context import RunContext

        det.context_ = RunContext.load(doc["context"], path)
    from llmad import overlap

    det.seen_ = overlap.load(path)
    missing = [f for f in cls.FILES if not (path / f).exists()]
    if missing:
        raise LlmadError(f"{path}: incomplete model folder, {', '.join(missing)} is missing (copy the folder whole, "
                         "or train again)")
    try:
        det._load_state(path)
    except FileNotFoundError as e:
        raise LlmadError(f"{path}: incomplete model folder, {Path(e.filename or '?').name} is missing") from None
    return det


def _cv_folds(pool: pd.DataFrame, y: np.ndarray, folds: int, seed: int, by: str | None = None):
    """Stratified folds for the ``cv`` threshold. Job records of several runs are folded **by run**
    (``run_id``): jobs of one run share a worker's stress, and their run context is computed within the run,
    so a run split across folds would leak between the fitted and the held part and cut the context of both.
    ``by="text"`` folds log windows by their text (the ``text`` column): no text in two folds; ``by="words:N"`` by
    the first N words of their text."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if by is not None:
        n = group_words(by)
        if "run_id" in pool.columns:
            raise LlmadError("text groups are for log windows; job records are already folded by run (their run "
                             "context must stay whole), so drop the threshold groups")
        if "text" not in pool.columns:
            raise LlmadError("text groups need the records' text (a 'text' column, as log windows have)")
        text = pool["text"].astype(str)
        if n is None:
            groups, one, many = text.to_numpy(), "text", "texts"
        else:
            groups = text.map(lambda t: " ".join(t.split()[:n])).to_numpy()
            one, many = (f"family of texts (the same first {n} words)",
                         f"families of texts (the same first {n} words)")
    elif "run_id" in pool.columns:
        groups, one, many = pool["run_id"].astype(str).to_numpy(), "run", "runs"
    else:
        return StratifiedKFold(folds, shuffle=True, random_state=seed).split(pool, y)
    with_class = [len(set(groups[y == c])) for c in (0, 1)]
    if min(with_class) < folds:
        raise LlmadError(f"a cv threshold over {folds} folds needs {many} with records of each class, at least "
                         f"{folds} of them (folds keep a {one} whole); there are {with_class[0]} {many} with "
                         f"normal and {with_class[1]} with anomalous records: use fewer folds or the validation "
                         "threshold")
    return StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(pool, y, groups)
