"""The ``llmad`` command line: a thin layer over the run API (:mod:`llmad.runs`).

Every command parses its options, calls the library and prints; defaults and help of detector settings
come from the detectors' typed configurations (:mod:`llmad.detectors.configs`).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmad import LlmadError, __version__, datasets, runs
from llmad.config import help_of
from llmad.data.splits import SPLITS
from llmad.detectors.catalog import DETECTORS, entry
from llmad.detectors.configs import GBDTConfig, ICLConfig, SFTConfig, TfidfConfig
from llmad.models.configs import AdapterConfig, LoraSettings, ReftConfig, TrainConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="llmad: anomaly detection in workflows and logs with language models.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: list, stats, export, parse, download.")
app.add_typer(data_app, name="data")
out = Console()
err = Console(stderr=True)


class RichReporter(runs.Reporter):
    """Progress bars on a terminal (nothing otherwise); a bar appears only once a step reports progress."""

    @contextmanager
    def task(self, description: str):
        state: dict = {}

        def update(done: int, total: int | None = None):
            if not err.is_terminal:
                return
            if "bar" not in state:
                bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                               TimeElapsedColumn(), console=err, transient=True)
                bar.start()
                state["bar"], state["id"] = bar, bar.add_task(description, total=None)
            state["bar"].update(state["id"], completed=done, total=total)

        try:
            yield update
        finally:
            if "bar" in state:
                state["bar"].stop()

    def log(self, message: str) -> None:
        err.print(message, markup=False, highlight=False)


REPORTER = RichReporter()


@app.callback()
def _options(threads: Optional[int] = typer.Option(
        None, "--threads", help="CPU threads for torch, ONNX Runtime and LightGBM (default: LLMAD_THREADS, else the "
                                "CPUs this process may use; LightGBM one per 200,000 rows).")):
    """llmad: anomaly detection in workflows and logs with language models."""
    if threads is not None:
        from llmad.threads import set_threads

        set_threads(threads)


def _load(name: str, log_options=None):
    with REPORTER.task(f"reading {datasets.canonical(name)}") as upd:
        return datasets.load(name, progress=upd, log_options=log_options)


# ---------------------------------------------------------------- system logs (options, stats, download)
DATASET_ARG = typer.Argument(..., help="flowbench/NAME (flowbench/sample is packaged), logs/NAME, or a raw log file "
                                        "as logs:PATH (llmad data list shows what is found).")
MODEL_ARG = typer.Argument(..., help="A trained detector folder (llmad train --out, llmad ensemble --out).")
FORMAT_OPT = typer.Option(None, "--format", help="[logs] Line format: hdfs, bgl, thunderbird, spirit or '<Date> <Time> ... <Content>'.")
GROUPING_OPT = typer.Option(None, "--grouping", help="[logs] fixed, line, time or session (default per dataset).")
WINDOW_OPT = typer.Option(None, "--window", help="[logs] Window size: lines (fixed) or seconds (time).")
STEP_OPT = typer.Option(None, "--step", help="[logs] Window step (default: the window size).")
LABELS_OPT = typer.Option(None, "--labels", help="[logs] anomaly_label.csv (BlockId,Label) or anomalous-id list for sessions.")
DEDUP_OPT = typer.Option(False, "--dedup", help="[logs] Drop validation/test windows identical to a training window (reported).")
TEXT_OPT = typer.Option(None, "--text", help="[logs] Window text: masked (the message sequence), counts (each "
                        "distinct message once with its count), templates, template-counts (drain3 templates mined on "
                        "train), ids (template-id sequence), id-counts (each distinct template id once with its count). Default: ids for logs/hdfs and logs/thunderbird, masked "
                        "otherwise. Saved with the model.")
FIELDS_OPT = typer.Option(None, "--fields", help="[logs] Format fields written before each message in the text, "
                          "comma-separated, e.g. Component,Level (never Label). Saved with the model.")
ALLOW_UNPARSED_OPT = typer.Option(False, "--allow-unparsed", help="[logs] Read a raw file even when more than 2 % of "
                                  "its lines do not match the format (they are still quarantined and counted).")


def _log_options(dataset: str | None, fmt, grouping, window, step, labels, dedup=False, allow_unparsed=False,
                 text=None, fields=None):
    """LogOptions from the command line (None for a Flow-Bench dataset; log flags there are an error)."""
    from llmad.data.logs.options import LogOptions

    given = {"format": fmt, "grouping": grouping, "window": window, "step": step, "labels": labels,
             "dedup": dedup or None, "max_unparsed": 1.0 if allow_unparsed else None, "text": text,
             "fields": fields}
    if dataset is not None and not datasets.is_logs(dataset):
        used = [f"--{k}" for k, v in given.items() if v is not None]
        if used:
            raise LlmadError(f"{' '.join(used)} apply to log datasets, not to {datasets.canonical(dataset)}")
        return None
    return LogOptions().merged(**given)


def _log_stats(dataset: str, table, json_out: bool):
    from llmad.data.logs import describe

    info = describe(table)
    parts = ("train", "valid", "test")
    rows = [{"part": p, "lines": info.get("lines_per_part", {}).get(p),
             "windows": info["windows_per_part"][p], "anomalous_windows": info["anomalous_windows_per_part"][p]}
            for p in parts]
    report = {"dataset": datasets.canonical(dataset), "split": info["split"], "lines": info["lines"],
              "quarantined": info.get("quarantined", 0), "dropped_lines": info.get("dropped_lines", 0),
              "parts": rows, **{k: info[k] for k in ("grouping", "text", "dedup_removed", "lines_outside_sessions",
                                                    "anomalous_lines_per_part", "sources") if k in info}}
    if json_out:
        print(json.dumps(report, default=str))
        return
    t = Table("part", "lines", "windows", "anomalous windows",
              title=f"{report['dataset']} ({info['split']} split before grouping)")
    for r in rows:
        t.add_row(r["part"], "-" if r["lines"] is None else str(r["lines"]), str(r["windows"]), str(r["anomalous_windows"]))
    out.print(t)
    out.print(f"lines read {info['lines']}, quarantined {report['quarantined']} (dropped {report['dropped_lines']}), "
              f"windows cut to the text budget {info['text']['windows_cut']}"
              + (f", removed as duplicates of train {info['dedup_removed']}" if "dedup_removed" in info else ""))
    tx = info["text"]
    out.print(f"text a model reads: {tx['mode']}" + ("" if tx.get("given", True) else
              " (this dataset's default; --text changes it; in-context learning reads masked)"))
    for src in info.get("sources", []):
        if src.get("quarantine_file"):
            out.print(f"quarantine: {src['quarantine_file']} ({src['quarantined']} lines: {src['reasons']})")


@data_app.command("download")
def data_download(
    name: str = typer.Argument(..., help="hdfs, bgl, thunderbird or spirit."),
    dest: Optional[Path] = typer.Option(None, help="Folder (default: $LLMAD_DATA_DIR/logs/<name>)."),
    url: Optional[str] = typer.Option(None, help="Mirror URL instead of the upstream one."),
    md5: Optional[str] = typer.Option(None, help="Expected MD5 (as listed on the Zenodo record)."),
    sha256: Optional[str] = typer.Option(None, help="Expected SHA-256."),
    unpack: bool = typer.Option(True, "--unpack/--no-unpack", help="Unpack .zip / .tar.gz archives."),
):
    """Fetch a full log dataset from upstream (resumable; verified when a checksum is given)."""
    from rich.progress import DownloadColumn, TransferSpeedColumn

    from llmad.data.download import SOURCES, download

    src = SOURCES.get(name)
    with Progress(TextColumn(f"{name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as p:
        task = p.add_task(name, total=None)
        r = download(name, dest, url, md5, sha256, unpack,
                     progress=lambda done, total: p.update(task, completed=done, total=total))
    err.print(f"{r['path']}: {r['bytes']:,} bytes"
              + (f", resumed from {r['resumed_from']:,}" if r.get("resumed_from") else "")
              + (f", sha256 {r['sha256']}" if "sha256" in r else ", already downloaded")
              + ("" if (md5 or sha256 or (src and (src.md5 or src.sha256))) else " (not verified: no checksum given)"))
    if r["unpacked"]:
        err.print(f"unpacked {len(r['unpacked'])} file(s) into {Path(r['path']).parent}")


# ---------------------------------------------------------------- data
@data_app.command("list")
def data_list(json_out: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Known datasets and whether their files are found."""
    rows = datasets.available()
    if json_out:
        print(json.dumps(rows))
        return
    t = Table("dataset", "found", "path")
    for r in rows:
        t.add_row(r["name"] + (" (packaged)" if r["packaged"] else ""), "yes" if r["found"] else "no", r["path"])
    out.print(t)
    from llmad.paths import data_dir

    where = "LLMAD_DATA_DIR" if os.environ.get("LLMAD_DATA_DIR") else "the default; set LLMAD_DATA_DIR to use another"
    err.print(f"data folder: {data_dir()} ({where})", markup=False, highlight=False, soft_wrap=True)


@data_app.command("stats")
def data_stats(dataset: str = DATASET_ARG, json_out: bool = typer.Option(False, "--json", help="Print JSON."),
               fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT,
               window: Optional[float] = WINDOW_OPT, step: Optional[float] = STEP_OPT,
               labels: Optional[str] = LABELS_OPT, dedup: bool = DEDUP_OPT,
               allow_unparsed: bool = ALLOW_UNPARSED_OPT, text: Optional[str] = TEXT_OPT,
               fields: Optional[str] = FIELDS_OPT):
    """Flow-Bench: runs, jobs and anomalous jobs per run category. Logs: lines, windows, anomalous
    windows per part, quarantined lines."""
    if datasets.is_logs(dataset):
        _log_stats(dataset, _load(dataset, _log_options(dataset, fmt, grouping, window, step, labels, dedup,
                                                        allow_unparsed, text, fields)), json_out)
        return
    table = _load(dataset)
    g = table.groupby("run_category", observed=True).agg(
        runs=("run_id", "nunique"), jobs=("label", "size"), anomalous=("label", "sum"))
    rows = [{"category": str(k), **{c: int(v) for c, v in r.items()}} for k, r in g.iterrows()]
    total = {"category": "all", "runs": int(table["run_id"].nunique()), "jobs": int(len(table)),
             "anomalous": int(table["label"].sum())}
    if json_out:
        print(json.dumps({"dataset": datasets.canonical(dataset), "categories": rows, "total": total}))
        return
    t = Table("category", "runs", "jobs", "anomalous jobs", title=datasets.canonical(dataset))
    for r in rows + [total]:
        t.add_row(r["category"], str(r["runs"]), str(r["jobs"]), str(r["anomalous"]))
    out.print(t)


@data_app.command("export")
def data_export(
    dataset: str = DATASET_ARG,
    out_file: Path = typer.Option(..., "--out", help="CSV to write (columns text,label)."),
    template: str = typer.Option("paper", help="Text template: paper, readable, readable-peers, compact, deciles, "
                                 "context, context-percentiles, context-digits, context-percentiles-global "
                                 "(fitted on the train part; run context in batch mode)."),
    split_kind: Optional[str] = typer.Option(None, "--split", help=f"Split: {', '.join(SPLITS)}."),
    part: str = typer.Option("test", help="Part of the split: train, valid, test."),
    seed: int = typer.Option(0, help="Split seed (the 'paper' split always uses 42)."),
    fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT, window: Optional[float] = WINDOW_OPT,
    step: Optional[float] = STEP_OPT, labels: Optional[str] = LABELS_OPT, dedup: bool = DEDUP_OPT,
    allow_unparsed: bool = ALLOW_UNPARSED_OPT, text: Optional[str] = TEXT_OPT, fields: Optional[str] = FIELDS_OPT,
):
    """Write records as text with labels (whole dataset when no split is given). The text is what a model
    reads: the text layer is fitted on the split's train part (fitted templates need --split)."""
    import pandas as pd

    from llmad.text.layer import RecordText, text_layer_for
    from llmad.text.records import CONTEXT_TEMPLATES, needs_fit

    logs = datasets.is_logs(dataset)
    opts = _log_options(dataset, fmt, grouping, window, step, labels, dedup, allow_unparsed, text, fields)
    if not logs and needs_fit(template) and not split_kind:
        raise LlmadError(f"template {template!r} learns from training records: give --split, and it is fitted "
                         "on that split's train part")
    prep = runs.prepare(dataset, split_kind, seed, opts, reporter=REPORTER)
    table = prep.part(part) if split_kind else prep.table
    layer = text_layer_for(prep.table, template) if logs else RecordText(template)
    if not logs and template in CONTEXT_TEMPLATES:
        from llmad.context import RunContext

        ctx = RunContext.fit(prep.table, "batch")
        layer.fit(ctx.transform(prep.part("train")))
        text = layer.transform(ctx.transform(table))
    else:
        layer.fit(prep.part("train"))
        text = layer.transform(table)
    if logs:  # windows: text, label and where they come from
        cols = ["window_id", "part", "source", "first_line", "last_line", "n_lines", "session"]
        table[cols].assign(text=text, label=table["label"].to_numpy()).to_csv(out_file, index=False)
    else:
        pd.DataFrame({"text": text, "label": table["label"].astype(int).to_numpy()}).to_csv(out_file, index=False)
    err.print(f"wrote {len(table)} rows to {out_file}")


@data_app.command("parse")
def data_parse(
    file: Path = typer.Argument(..., help="Raw log file (.gz too)."),
    fmt: str = typer.Option(..., "--format", help="Line format: hdfs, bgl, thunderbird, spirit or a format string like "
                            "'<Month> <Day> <Time> <Host> <Component>[[[<PID>]]]: <Content>' ([[...]]: optional)."),
    out_file: Path = typer.Option(..., "--out", help="Structured CSV to write: LineId, the fields, Content, EventId, "
                                                     "EventTemplate (Loghub's layout)."),
    max_unparsed: Optional[float] = typer.Option(None, "--max-unparsed", help="Refuse the file when more than this "
                                                 "share of its non-empty lines do not match the format (default 0.02)."),
    allow_unparsed: bool = typer.Option(False, "--allow-unparsed", help="Write the table whatever share of lines "
                                        "does not match (they are still counted and quarantined)."),
    quarantine: Optional[Path] = typer.Option(None, "--quarantine", help="Quarantine TSV (default: "
                                              "$LLMAD_CACHE_DIR/quarantine/<file>.quarantine.tsv)."),
):
    """Split a raw log file into fields and templates, to check a format: one CSV row per parsed line."""
    from llmad.data.logs.parse import DEFAULT_MAX_UNPARSED, parse_file, summary_line
    from llmad.data.logs.reader import ReaderConfig

    limit = 1.0 if allow_unparsed else (DEFAULT_MAX_UNPARSED if max_unparsed is None else max_unparsed)
    with REPORTER.task(f"parsing {file.name}") as upd:
        table, summary = parse_file(file, fmt, max_unparsed=limit, progress=upd,
                                    reader=ReaderConfig(quarantine=str(quarantine) if quarantine else None))
    table.to_csv(out_file, index=False)
    err.print(summary_line(summary, out_file), markup=False, highlight=False, soft_wrap=True)

# ---------------------------------------------------------------- train / evaluate / detect
def _int_list(text: Optional[str]) -> Optional[list[int]]:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LlmadError(f"expected comma-separated integers, got {text!r}") from None


def _h(tag: str, cls: type, name: str) -> str:
    return f"[{tag}] {help_of(cls, name)}"


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != {}}


_SFT_ONLY = ("adapter", "max_length", "layers", "truncation", "pooling", "epochs", "lr", "grad_accum", "balance",
             "early_stopping", "monitor", "token_dropout", "token_dropout_keep", "eval_every", "eval_max", "max_train",
             "train_frac", "precision", "lora_r", "lora_alpha", "lora_dropout", "reft_rank", "reft_layers", "reft_positions", "checkpoint_dir", "init",
             "inference")
_ICL_ONLY = ("prompt", "shots", "demos", "calibrate", "max_valid", "scoring", "anchors", "neighbours", "base_url",
             "job_text", "guard")
# `train` options that only some detectors read (the others read every detector's): one given to a detector that
# would ignore it is an error, not a silent no-op
TRAIN_OPTION_DETECTORS: dict[str, tuple[str, ...]] = {
    **{k: ("sft",) for k in _SFT_ONLY}, **{k: ("icl",) for k in _ICL_ONLY},
    "features": ("gbdt", "iforest"), "target": ("gbdt", "sft"), "backbone": ("sft", "icl"),
    "batch_size": ("sft", "icl"), "template": ("sft", "tfidf"), "tune": ("tfidf",),
}


def _refuse_foreign_options(detector: str, given: dict[str, Any]) -> None:
    """One error naming every option given (not None) that ``detector`` does not read, and who reads it."""
    foreign = [(k, TRAIN_OPTION_DETECTORS[k]) for k, v in given.items()
               if v is not None and k in TRAIN_OPTION_DETECTORS and detector not in TRAIN_OPTION_DETECTORS[k]]
    if foreign:
        what = "; ".join(f"--{k.replace('_', '-')} is read by {' and '.join(d)}" for k, d in foreign)
        raise LlmadError(f"the {detector} detector does not read {len(foreign)} of the options given ({what}); "
                         f"drop {'it' if len(foreign) == 1 else 'them'} or choose that detector")


@app.command()
def train(
    dataset: str = DATASET_ARG,
    out_dir: Path = typer.Option(..., "--out", help="Folder to save the detector in."),
    detector: str = typer.Option("gbdt", help=f"Detector: {', '.join(f'{n} ({entry(n).about})' for n in DETECTORS)}."),
    split_kind: Optional[str] = typer.Option(None, "--split", help=f"Split: {', '.join(SPLITS)} (default: run; logs: the loader's)."),
    seed: int = typer.Option(0, help="Seed for the split and the detector."),
    model_seed: Optional[int] = typer.Option(None, help="Seed for the detector only (default: --seed), so that "
                                             "models of one split differ: what `llmad ensemble` combines on a "
                                             "workflow, whose run split moves with --seed."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="JSON file of detector settings (the 'config' "
                                               "of a saved detector.json works); options given here override it."),
    features: Optional[str] = typer.Option(None, help=_h("gbdt/iforest", GBDTConfig, "features")),
    context: Optional[str] = typer.Option(None, help=_h("flowbench", GBDTConfig, "context")),
    target: Optional[str] = typer.Option(None, help=_h("gbdt/sft", GBDTConfig, "target")),
    backbone: Optional[str] = typer.Option(None, help=_h("sft", SFTConfig, "backbone") + " [icl] The causal LM (default smollm2)."),
    adapter: Optional[str] = typer.Option(None, help=_h("sft", AdapterConfig, "kind")),
    template: Optional[str] = typer.Option(None, help="[sft/tfidf] Flow-Bench text template: deciles (sft default), "
                                           "context (deciles + run context), context-percentiles (the same fields "
                                           "as percentiles), context-digits (each percentile as its two digits), "
                                           "context-percentiles-global (percentiles among all jobs, not per "
                                           "transformation), compact, paper, readable (tfidf default), readable-peers."),
    max_length: Optional[int] = typer.Option(None, help=_h("sft", SFTConfig, "max_length")),
    layers: Optional[int] = typer.Option(None, help=_h("sft", SFTConfig, "layers")),
    truncation: Optional[str] = typer.Option(None, help=_h("sft", SFTConfig, "truncation")),
    pooling: Optional[str] = typer.Option(None, help=_h("sft", SFTConfig, "pooling")),
    epochs: Optional[float] = typer.Option(None, help=_h("sft", TrainConfig, "epochs")),
    lr: Optional[float] = typer.Option(None, help=_h("sft", TrainConfig, "lr")),
    batch_size: Optional[int] = typer.Option(None, help=_h("sft", TrainConfig, "batch_size")),
    grad_accum: Optional[int] = typer.Option(None, help=_h("sft", TrainConfig, "grad_accum")),
    balance: Optional[str] = typer.Option(None, help=_h("sft", TrainConfig, "balance")),
    early_stopping: Optional[int] = typer.Option(None, help=_h("sft", TrainConfig, "early_stopping")),
    monitor: Optional[str] = typer.Option(None, help=_h("sft", TrainConfig, "monitor")),
    token_dropout: Optional[float] = typer.Option(None, help=_h("sft", TrainConfig, "token_dropout")),
    token_dropout_keep: Optional[int] = typer.Option(None, help=_h("sft", TrainConfig, "token_dropout_keep")),
    eval_every: Optional[int] = typer.Option(None, help=_h("sft", TrainConfig, "eval_every")),
    eval_max: Optional[int] = typer.Option(None, help=_h("sft", TrainConfig, "eval_max")),
    max_train: Optional[int] = typer.Option(None, help=_h("sft", SFTConfig, "max_train")),
    train_frac: Optional[float] = typer.Option(None, help=_h("sft", SFTConfig, "train_frac")),
    precision: Optional[str] = typer.Option(None, help=_h("sft", TrainConfig, "precision")),
    lora_r: Optional[int] = typer.Option(None, help=_h("sft/lora", LoraSettings, "r")),
    lora_alpha: Optional[int] = typer.Option(None, help=_h("sft/lora", LoraSettings, "alpha")),
    lora_dropout: Optional[float] = typer.Option(None, help=_h("sft/lora", LoraSettings, "dropout")),
    reft_rank: Optional[int] = typer.Option(None, help=_h("sft/reft", ReftConfig, "rank")),
    reft_layers: Optional[str] = typer.Option(None, help=_h("sft/reft", ReftConfig, "layers")),
    reft_positions: Optional[int] = typer.Option(None, help=_h("sft/reft", ReftConfig, "positions")),
    checkpoint_dir: Optional[Path] = typer.Option(None, help="[sft] Checkpoint folder; a rerun resumes from it."),
    prompt: Optional[str] = typer.Option(None, help=_h("icl", ICLConfig, "prompt")),
    shots: Optional[int] = typer.Option(None, help=_h("icl", ICLConfig, "shots")),
    demos: Optional[str] = typer.Option(None, help=_h("icl", ICLConfig, "demos")),
    calibrate: Optional[bool] = typer.Option(None, "--calibrate/--no-calibrate", help=_h("icl", ICLConfig, "calibrate")),
    max_valid: Optional[int] = typer.Option(None, help=_h("icl", ICLConfig, "max_valid")),
    scoring: Optional[str] = typer.Option(None, help=_h("icl", ICLConfig, "scoring")),
    anchors: Optional[int] = typer.Option(None, help=_h("icl", ICLConfig, "anchors")),
    neighbours: Optional[int] = typer.Option(None, help=_h("icl", ICLConfig, "neighbours")),
    base_url: Optional[str] = typer.Option(None, help=_h("icl", ICLConfig, "base_url")),
    job_text: Optional[str] = typer.Option(None, help=_h("icl", ICLConfig, "job_text")),
    guard: Optional[str] = typer.Option(None, help=_h("icl", ICLConfig, "guard")),
    tune: Optional[str] = typer.Option(None, help=_h("tfidf", TfidfConfig, "tune")),
    threshold: str = typer.Option("valid", help="How the threshold is chosen: valid (max F1 on the validation part) "
                                  "or cv (max F1 on out-of-fold scores over train + valid; --threshold-folds extra "
                                  "fits; an sft model's fold copies train to the epoch validation kept). Test "
                                  "records never choose it."),
    threshold_folds: int = typer.Option(5, help="Folds of the cv threshold."),
    threshold_groups: Optional[str] = typer.Option(
        None, help="What the cv threshold's folds keep whole: text (log windows: no text in two folds, so each "
                   "fold is scored on texts its copy never read, as a test part of new messages is) or words:N "
                   "(the windows whose texts begin with the same N words: a family of messages)."),
    train_fraction: Optional[float] = typer.Option(None, help="Fit on this share of the train part (stratified, "
                                                   "seeded; any detector): the sample-efficiency study's knob."),
    train_prefixes: Optional[float] = typer.Option(None, help="Logs with sessions: also train on this share of "
                                                   "the normal training sessions cut at a random moment of their "
                                                   "life (what a live monitor sees of an open session; any "
                                                   "detector, seeded by --seed)."),
    init: Optional[Path] = typer.Option(None, help="[sft] Start from the weights of this saved sft model (same "
                                        "backbone, adapter and target): continued training, transfer."),
    inference: Optional[str] = typer.Option(None, help=_h("sft", SFTConfig, "inference")),
    fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT, window: Optional[float] = WINDOW_OPT,
    step: Optional[float] = STEP_OPT, labels: Optional[str] = LABELS_OPT, dedup: bool = DEDUP_OPT,
    allow_unparsed: bool = ALLOW_UNPARSED_OPT, text: Optional[str] = TEXT_OPT, fields: Optional[str] = FIELDS_OPT,
):
    """Fit a detector on the train part, pick its threshold (validation, or cv over train + validation), save it."""
    entry(detector)  # an unknown name fails before any data is read
    options = dict(locals())
    _refuse_foreign_options(detector, {k: options[k] for k in TRAIN_OPTION_DETECTORS})
    if template is not None and datasets.is_logs(dataset):
        raise LlmadError("--template chooses how a Flow-Bench job is written; a log window's text is chosen with "
                         "--text (and --fields)")
    config: dict = {}
    if config_file is not None:
        try:
            config = json.loads(config_file.read_text())
        except json.JSONDecodeError as e:
            raise LlmadError(f"{config_file}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
        if isinstance(config, dict) and isinstance(config.get("config"), dict):
            config = config["config"]
    given = {
        "sft": _drop_none({
            "backbone": backbone, "template": template, "max_length": max_length, "layers": layers,
            "truncation": truncation, "pooling": pooling, "max_train": max_train, "train_frac": train_frac,
            "inference": inference,
            "adapter": _drop_none({"kind": adapter,
                                   "lora": _drop_none({"r": lora_r, "alpha": lora_alpha, "dropout": lora_dropout}),
                                   "reft": _drop_none({"rank": reft_rank, "layers": _int_list(reft_layers),
                                                       "positions": reft_positions})}),
            "train": _drop_none({"epochs": epochs, "lr": lr, "batch_size": batch_size, "grad_accum": grad_accum,
                                 "balance": balance, "early_stopping": early_stopping, "monitor": monitor,
                                 "token_dropout": token_dropout, "token_dropout_keep": token_dropout_keep,
                                 "eval_every": eval_every, "eval_max": eval_max, "precision": precision})}),
        "tfidf": _drop_none({"template": template, "tune": tune}),
        "icl": _drop_none({"model": backbone, "prompt": prompt, "shots": shots, "demos": demos, "calibrate": calibrate,
                           "max_valid": max_valid, "batch_size": batch_size, "scoring": scoring, "anchors": anchors,
                           "neighbours": neighbours, "base_url": base_url, "job_text": job_text,
                           "guard": guard}),
        "gbdt": _drop_none({"features": features}),
        "iforest": _drop_none({"features": features}),
    }[detector]
    if context is not None:
        given["context"] = context
    if target is not None:
        given["target"] = target
    for key in ("adapter", "train"):  # nested settings: the command line overrides the file key by key
        if key in given and isinstance(config.get(key), dict):
            given[key] = {**config[key], **given[key],
                          **{k: {**config[key].get(k, {}), **v} for k, v in given[key].items() if isinstance(v, dict)}}
    config = {**config, **given}
    config["seed"] = seed if model_seed is None else model_seed
    res = runs.train(dataset, detector, config, split=split_kind, seed=seed, out=out_dir,
                     log_options=_log_options(dataset, fmt, grouping, window, step, labels, dedup, allow_unparsed,
                                              text, fields),
                     checkpoint_dir=checkpoint_dir, reporter=REPORTER, command=_command(),
                     threshold=threshold, threshold_folds=threshold_folds,
                     threshold_groups=threshold_groups, train_fraction=train_fraction,
                     init=init, train_prefixes=train_prefixes)
    det = res.detector
    from llmad.models.distributed import is_main

    if not is_main():  # data-parallel: rank 0 wrote the model and reports it
        return
    extra = ""
    if "parameters" in det.info_:
        pc = det.info_["parameters"]
        extra = f"; trainable parameters {pc['trainable']:,} of {pc['total']:,} ({pc['percent']}%)"
    if "cv" in det.info_:
        extra += f"; out-of-fold F1 at it {det.info_['cv']['oof_f1']:.4f}"
    if "train_prefixes" in det.run_:
        pf = det.run_["train_prefixes"]
        extra += f"; trained on {pf['added']:,} cut copies of {pf['eligible']:,} normal sessions too"
    err.print(f"saved {detector} to {out_dir} (threshold {det.threshold_:.4g} from {det.info_['threshold_from']}{extra}; "
              f"fit {res.fit_seconds:.1f} s)")


@app.command()
def ensemble(
    models: list[Path] = typer.Argument(..., help="Two or more saved models trained on the same dataset and split "
                                        "(e.g. the same command with --seed 0, 1, 2)."),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the ensemble to (members included)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Combine trained models into one: the mean of their log-odds, threshold chosen on the validation part."""
    res = runs.ensemble(models, out=out_dir, reporter=REPORTER, command=_command())
    det = res.detector
    if json_out:
        print(json.dumps({"out": str(out_dir), "threshold": det.threshold_, "members": det.info_["members"],
                          "dataset": det.run_["dataset"], "split": det.run_["split"]}))
        return
    err.print(f"saved an ensemble of {len(det.members_)} models to {out_dir} (threshold {det.threshold_:.4g} "
              f"from {det.info_['threshold_from']}; {res.fit_seconds:.1f} s); evaluate it with: llmad evaluate "
              f"{out_dir}")


def _command() -> str:
    return "llmad " + " ".join(sys.argv[1:])


def _perturbation(text: Optional[str]):
    if not text:
        return None
    from llmad.data.logs.perturb import Perturbation

    bits = text.split(":")
    try:
        return Perturbation(bits[0], float(bits[1]) if len(bits) > 1 else 0.1, int(bits[2]) if len(bits) > 2 else 0)
    except ValueError:
        raise LlmadError(f"--perturb takes KIND:RATIO[:SEED], e.g. insert_words:0.1; got {text!r}") from None


@app.command()
def evaluate(
    model_dir: Path = MODEL_ARG,
    dataset: Optional[str] = typer.Option(None, help="Dataset (default: the one trained on)."),
    split_kind: Optional[str] = typer.Option(None, "--split", help="Split (default: the one trained with)."),
    part: str = typer.Option("test", help="train, valid or test."),
    seed: Optional[int] = typer.Option(None, help="Split seed (default: the training seed)."),
    perturb: Optional[str] = typer.Option(None, help="Unstable-input test: KIND:RATIO[:SEED], e.g. "
                                          "insert_words:0.1 (logs: insert_words, drop_events, duplicate_events, shuffle_events; job records: "
                                          "missing_values, jitter)."),
    limit: Optional[int] = typer.Option(None, help="Score a stratified, seeded sample of this many records of the "
                                        "part (in-context learning is slow on a CPU); the report says so."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Evaluate a saved detector on a part of a split (threshold as chosen at training)."""
    m = runs.evaluate(model_dir, dataset, part=part, split=split_kind, seed=seed, perturbation=_perturbation(perturb),
                      limit=limit, reporter=REPORTER)
    if json_out:
        print(json.dumps(m))
        return
    _print_metrics(m)


def _print_metrics(m: dict):
    t = Table("metric", "value", title=f"{m['detector']} on {m['dataset']} ({m['split']} split, {m['part']})")
    for k in ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc", "threshold"):
        v = m[k]
        t.add_row(k, "n/a" if v is None else f"{v:.4f}")
    t.add_row("n (anomalous)", f"{m['n']} ({m['n_anomalous']})")
    if m.get("oracle"):
        t.add_row("oracle F1 (not a result)", f"{m['oracle']['f1']:.4f}")
    out.print(t)
    if m.get("oracle"):
        out.print(f"oracle F1: the best any threshold reaches on the {m['part']} part itself; the gap to F1 is "
                  "what the threshold chosen at training lost, the rest is ranking")
    if "type" in m:
        tm = m["type"]
        ct = Table("true \\ predicted", *tm["classes"],
                   title=f"anomaly type: macro-F1 {tm['macro_f1']:.4f}, accuracy {tm['accuracy']:.4f}")
        for name, row in zip(tm["classes"], tm["confusion"]):
            ct.add_row(f"{name} (F1 {tm['per_class'][name]['f1']:.3f})", *map(str, row))
        out.print(ct)
    if m["leaky"]:
        out.print("[bold yellow]warning:[/] the 'paper' split is leaky (jobs of one run in train and test)")


@app.command()
def detect(
    model_dir: Path = MODEL_ARG,
    input_file: Path = typer.Argument(..., help="A CSV / Parquet of job records, or a raw log file for a log model; "
                                      "or a folder of them (each file scored alone, a 'file' column added)."),
    out_file: Path = typer.Option(..., "--out", help="JSON-lines file: one {id, run, score, label} per record "
                                  "(logs: per window, with first_line / last_line)."),
    fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT, window: Optional[float] = WINDOW_OPT,
    step: Optional[float] = STEP_OPT, labels: Optional[str] = LABELS_OPT,
    allow_unparsed: bool = ALLOW_UNPARSED_OPT,
    session_timeout: Optional[float] = typer.Option(
        None, help="[logs, sessions] A session with no line for this long (seconds; line positions when the lines "
                   "have no timestamps) before the file's end or after its start may be cut by the edge: it is "
                   "marked incomplete. Default: learnt from the training sessions; 0 marks none."),
    json_metrics: Optional[Path] = typer.Option(None, "--metrics-json", help="Also write the metrics (files with "
                                                "labels) to this JSON file."),
    engine: str = typer.Option("local", help="local (this process) or ray (Ray Data: a pool of model actors over "
                               "the files; pip install 'llmad[ray]')."),
    ray_address: Optional[str] = typer.Option(None, help="[ray] Join this cluster (ray://host:10001, auto); "
                                              "default: start one on this machine."),
    actors: int = typer.Option(2, help="[ray] Model actors (each loads the model once)."),
):
    """Score a CSV of job records (Flow-Bench columns) or a raw log file (per window, with line ranges).
    When the file carries labels (a <Label> field or --labels for sessions; an anomaly_type column for job records)
    the metrics are printed."""
    given = {"format": fmt, "grouping": grouping, "window": window, "step": step, "labels": labels,
             "max_unparsed": 1.0 if allow_unparsed else None, "session_timeout": session_timeout}
    opts = {k: v for k, v in given.items() if v is not None} or None
    if engine not in ("local", "ray"):
        raise LlmadError(f"unknown engine {engine!r}; choose local or ray")
    if engine == "ray":
        from llmad.scale.ray_batch import score_with_ray

        res = score_with_ray(model_dir, input_file, address=ray_address, actors=actors, log_options=opts,
                             reporter=REPORTER)
    elif input_file.is_dir():
        res = runs.score_files(model_dir, input_file, log_options=opts, reporter=REPORTER)
    else:
        res = runs.score(model_dir, input_file, log_options=opts, reporter=REPORTER)
    with open(out_file, "w", encoding="utf-8") as fh:
        for rec in res.to_dict(orient="records"):
            if rec.get("session", "") is None:
                rec.pop("session")
            fh.write(json.dumps({k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()}) + "\n")
    n_anom = int(res["label"].sum())
    read = res.attrs.get("read") or {}
    files = f" in {read['files']} files" if read.get("files") else ""
    if "lines" in read:
        err.print(f"scored {len(res)} windows of {input_file}{files} ({n_anom} anomalous; lines {read['lines']} read, "
                  f"{read['quarantined']} quarantined) -> {out_file}")
        edges = read.get("edges")
        if edges and edges.get("marked"):
            err.print(f"{edges['incomplete']} of {len(res)} sessions may be cut by the file's edges (no line for "
                      f"{edges['timeout']:.4g} {edges['unit']} before its end or after its start; timeout "
                      f"{edges['source']}): marked complete=false, scored on what the file holds")
        elif edges:
            err.print(f"sessions cut by the file's edges are not marked: {edges['note']}")
    else:
        err.print(f"scored {len(res)} records{files} ({n_anom} anomalous) -> {out_file}")
    m = runs.scored_metrics(res, res.attrs["threshold"])
    seen = res.attrs.get("seen")
    if m is not None:
        _print_scored_metrics(m, "windows" if "lines" in read else "records")
        if json_metrics is not None:
            json_metrics.write_text(json.dumps({**m, "seen": seen} if seen else m, indent=2))
    elif json_metrics is not None:
        raise LlmadError(f"{input_file} carries no labels, so there are no metrics to write (job records: an "
                         "anomaly_type column; sessions: give --labels)")
    if seen:
        from llmad import overlap

        err.print(f"[bold yellow]warning:[/] {overlap.warning(seen, 'windows' if 'lines' in read else 'records')}")


def _print_scored_metrics(m: dict, what: str = "windows") -> None:
    t = Table(what, "n (anomalous)", "F1", "precision", "recall", "ROC-AUC",
              title=f"against the file's labels (threshold {m['threshold']:.4g} from training)")
    rows = [("complete sessions", m.get("complete")), ("cut by the file's edges", m.get("incomplete")),
            ("all", m["all"])] if "complete" in m else [("all", m["all"])]
    if "unseen" in m:  # the rows the model was not trained or validated on: the figures that measure it
        rows.append(("not seen in training or validation" + (" (complete)" if m["unseen_of"] == "complete" else ""),
                     m["unseen"]))
    for name, r in rows:
        if r is None:
            t.add_row(name, "0", "-", "-", "-", "-")
            continue
        auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        # with no anomaly among them, F1 and recall say nothing: the false alarms (below) are the figure
        f1, prec, rec = (("n/a",) * 3 if not r["n_anomalous"] else
                         (f"{r['f1']:.4f}", f"{r['precision']:.4f}", f"{r['recall']:.4f}"))
        t.add_row(name, f"{r['n']} ({r['n_anomalous']})", f1, prec, rec, auc)
    err.print(t)
    # the headline row's false alarms: on what the model has not seen where it has seen some, complete sessions
    # where the file has them, else all
    head, whose = ((m["unseen"], " not seen in training or validation") if m.get("unseen") else
                   (m["complete"], " (complete sessions)") if m.get("complete") else (m["all"], ""))
    if head is not None:
        normal = head["n"] - head["n_anomalous"]
        err.print(f"false alarms: {head['confusion']['fp']} of {normal} normal "
                  f"{what[:-1] if normal == 1 else what}{whose}")
    if "complete" in m and m["complete"] is None:
        err.print("[bold yellow]warning:[/] no session in this file is complete; these figures judge sessions on a "
                  "part of their lines and are not comparable with the model's evaluation")
    if m["unlabelled"]:
        n = m["unlabelled"]
        err.print(f"{n} {what[:-1] if n == 1 else what} {'has' if n == 1 else 'have'} no label and "
                  f"{'is' if n == 1 else 'are'} left out")


@app.command()
def bench(
    dataset: str = typer.Option("flowbench/sample", help="Dataset the fixed slice is cut from (run split, seed 0)."),
    backbone: str = typer.Option(SFTConfig.backbone, help="Backbone (default: the sft detector's)."),
    adapters: str = typer.Option("head,lora,reft,full", help="Comma-separated adapters to measure."),
    template: str = typer.Option("deciles", help="Text template."),
    n_train: int = typer.Option(512, help="Training records (one pass)."),
    n_infer: int = typer.Option(2000, help="Records scored at inference."),
    batch_size: int = typer.Option(32, help="Training batch size (and the batched pipeline's)."),
    max_length: int = typer.Option(64, help="Max tokens per record."),
    layers: Optional[int] = typer.Option(None, help="Keep only the first N transformer layers (default all)."),
    pipeline: bool = typer.Option(True, help="Also time transformers.pipeline on the LoRA model."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Also write the JSON here."),
):
    """Training / inference speed and peak memory per adapter, and int8 vs a plain pipeline, in one run."""
    from llmad.bench import BenchConfig, run_bench

    cfg = BenchConfig(dataset=dataset, backbone=backbone, adapters=tuple(a.strip() for a in adapters.split(",") if a.strip()),
                      template=template, n_train=n_train, n_infer=n_infer, batch_size=batch_size,
                      max_length=max_length, layers=layers, pipeline=pipeline)
    res = run_bench(cfg, reporter=REPORTER).to_dict()
    res["command"] = _command()
    if out_file:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(res, indent=2))
    if json_out:
        print(json.dumps(res))
        return
    env = res["environment"]
    t = Table("adapter", "trainable", "train rec/s", "train peak MiB", "infer fp32 rec/s", "infer int8 rec/s",
              "infer peak MiB", title=f"{cfg.backbone} on {cfg.dataset} ({env['n_train']} train / {env['n_infer']} "
                                     f"scored, {env['unique_infer_texts']} unique), {env['threads']} threads")
    for r in res["rows"]:
        t.add_row(r["adapter"], f"{r['trainable_params']:,}", f"{r['train_samples_per_s']:.1f}", f"{r['train_peak_mib']:.0f}",
                  f"{r['infer_torch_per_s']:.0f}", f"{r.get('infer_int8_per_s', float('nan')):.0f}",
                  f"{max(r['infer_torch_peak_mib'], r.get('infer_int8_peak_mib', 0)):.0f}")
    out.print(t)
    if res["pipeline"]:
        p = res["pipeline"]
        out.print(f"transformers.pipeline on the same LoRA model and texts: {p['default_per_s']:.0f} rec/s "
                  f"(default), {p[f'batch{cfg.batch_size}_per_s']:.0f} rec/s (batch {cfg.batch_size}); "
                  f"default detector is {p['speedup_default_detector']:.1f}x the default pipeline")


@app.command()
def study(
    name: str = typer.Argument(..., help="Study: efficacy, stability, sample-efficiency, robustness, cross-dataset, "
                               "bias, forgetting, transfer, online, icl."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML config of the grid (configs/NAME-cpu.toml "
                                               "are ready to run); default: one gbdt on the packaged sample."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder of results.json, cells.jsonl, report.md / "
                                           ".html and plots (default runs/studies/NAME); a rerun resumes there."),
    jobs: int = typer.Option(1, help="Cells run at once in worker processes (each gets its share of the CPUs)."),
    retry_failed: bool = typer.Option(False, help="Run again the cells that failed last time."),
    report_only: bool = typer.Option(False, help="Only rebuild the report from the folder's results.json."),
    plan_only: bool = typer.Option(False, "--plan", help="List the cells (and which are done) without running."),
):
    """Run a study (a grid of train + evaluate cells) resumably and write its report (Markdown, HTML, PNG).

    Each cell is saved as it finishes; rerunning the same command skips finished cells, so an interrupted
    study loses nothing. A failing cell is recorded with its error and the study goes on (exit code 1).
    """
    from llmad.studies import STUDIES, default_out, plan, run_study
    from llmad.studies.config import read_config
    from llmad.studies.report import rebuild
    from llmad.studies.store import CellStore, cell_key

    if name not in STUDIES:
        raise LlmadError(f"unknown study {name!r}; known: {', '.join(STUDIES)}")
    folder = out_dir or default_out(name)
    if report_only:
        if not (folder / "results.json").is_file():
            raise LlmadError(f"{folder}: no results.json to build a report from (run the study first)")
        paths = rebuild(folder)
        err.print(f"report: {paths['markdown']}, {paths['html']}")
        return
    if plan_only:
        cfg, _ = read_config(config_file, name)
        store = CellStore(folder) if folder.exists() else None
        t = Table("#", "dataset", "detector", "seed", "knob", "status", title=f"{name}: cells")
        for i, c in enumerate(plan(name, cfg)):
            knob = ", ".join(f"{k}={c[k]}" for k in ("fraction", "then", "to", "init", "prompt", "demos",
                                                      "calibrate") if k in c)
            rec = store.cells.get(cell_key(c)) if store else None
            t.add_row(str(i + 1), c["dataset"], c["detector"], str(c["seed"]), knob, rec["status"] if rec else "to run")
        out.print(t)
        return
    doc = run_study(name, config_file, folder, jobs=jobs, retry_failed=retry_failed, reporter=REPORTER,
                    command=_command())
    counts = doc["counts"]
    err.print(f"{name}: {counts.get('ok', 0)} cells ok, {counts.get('failed', 0)} failed; "
              f"results {folder / 'results.json'}; report {doc['report']['markdown']}, {doc['report']['html']}")
    if counts.get("failed"):
        raise typer.Exit(1)


@app.command()
def serve(
    model_dir: Path = typer.Argument(..., help="A trained detector folder (llmad train --out)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs a token."),
    port: int = typer.Option(8000, help="Port."),
    token_file: Optional[Path] = typer.Option(None, help="File holding the bearer token (default: $LLMAD_API_TOKEN)."),
    max_body_bytes: int = typer.Option(8 * 2**20, help="Largest request body (413 beyond)."),
    max_records: int = typer.Option(10_000, help="Most records or log lines per request (413 beyond)."),
    queue_records: int = typer.Option(50_000, help="Records waiting to be scored before requests get 429."),
    batch_records: int = typer.Option(2048, help="Most records per micro-batch."),
    batch_wait_ms: float = typer.Option(2.0, help="Wait to fill a micro-batch (ms)."),
    max_inflight: int = typer.Option(64, help="Requests in progress at once before new ones get 429."),
):
    """Serve a detector over HTTP: /v1/detect, /v1/stream (NDJSON, state per stream), /healthz, /readyz,
    /metrics (Prometheus), OpenAPI at /docs. Needs pip install 'llmad[serve]'."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise LlmadError(f"llmad serve needs {e.name!r}: pip install 'llmad[serve]'") from None
    from llmad.serve import ServeConfig, check_host, read_token
    from llmad.serve import serve as run_service

    token = read_token(token_file)
    cfg = ServeConfig(host=host, port=port, max_body_bytes=max_body_bytes, max_records=max_records,
                      queue_records=queue_records, batch_records=batch_records, batch_wait_ms=batch_wait_ms,
                      max_inflight=max_inflight)
    check_host(host, token)
    err.print(f"serving {model_dir} on http://{host}:{port} ({'bearer token required' if token else 'no token: loopback only'}); "
              "OpenAPI at /docs")
    run_service(model_dir, cfg, token)


DEMO_SFT = {"backbone": "minilm", "adapter": "lora", "template": "deciles", "max_length": 32, "max_train": 2000,
            "train": {"epochs": 2, "batch_size": 32}}


@app.command()
def demo(
    detectors: str = typer.Option("gbdt,sft", help="Comma-separated detectors to train side by side."),
    seed: int = typer.Option(0, help="Seed."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list, one object per detector."),
):
    """The main job on the embedded defaults: the packaged Flow-Bench sample and the packaged MiniLM.

    Trains each detector on a run split (threshold from validation) and reports test metrics, through the
    same run API as ``train`` and ``evaluate``. The language model is fine-tuned with LoRA on at most 2,000
    training records for 2 epochs so the demo finishes in about a minute on a laptop CPU.
    """
    names = [d.strip() for d in detectors.split(",") if d.strip()]
    for name in names:
        entry(name)
    prep = runs.prepare("flowbench/sample", "run", seed, reporter=REPORTER)
    results = []
    for name in names:
        res = runs.train(prep, name, DEMO_SFT if name == "sft" else None, reporter=REPORTER)
        m = runs.evaluate(res.detector, prep, part="test", reporter=REPORTER)
        m.update({"fit_seconds": round(res.fit_seconds, 1), "command": f"llmad demo --detectors {detectors} --seed {seed}"})
        if name == "sft":
            m["model"] = "sft (minilm + lora, deciles)"
        results.append(m)
    if json_out:
        print(json.dumps(results))
        return
    t = Table("detector", "F1", "precision", "recall", "ROC-AUC", "PR-AUC", "fit s",
              title=f"{prep.dataset}: {prep.table['run_id'].nunique()} runs of 1000genome, run split, test part "
                    f"(n={results[0]['n']})")
    for m in results:
        t.add_row(m.get("model", m["detector"]), *(f"{m[k]:.3f}" for k in ("f1", "precision", "recall", "roc_auc", "pr_auc")),
                  f"{m['fit_seconds']:.1f}")
    out.print(t)
    out.print("threshold: max F1 on validation. Data: Flow-Bench (CC BY 4.0), see the package's ATTRIBUTION.md.")


@app.command()
def version():
    """Print the llmad version."""
    print(__version__)


def _help_as_plain_text(*apps: typer.Typer) -> None:
    """Our help texts are plain text, but typer renders them as Rich markup, where "[logs]" or
    "pip install 'llmad[serve]'" would vanish as unknown style tags. Escape each text once (an option's
    info object is shared by the commands that use it)."""
    done: set[int] = set()
    for a in apps:
        for cmd in a.registered_commands:
            if cmd.help is None and cmd.callback.__doc__:
                cmd.help = escape(inspect.getdoc(cmd.callback))
            for p in inspect.signature(cmd.callback).parameters.values():
                info = p.default
                if isinstance(info, typer.models.ParameterInfo) and info.help and id(info) not in done:
                    done.add(id(info))
                    info.help = escape(info.help)


_help_as_plain_text(app, data_app)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point. Usage mistakes get typer's usage message and exit 2 (typer handles them itself, with
    whichever click it bundles); llmad's own errors are one line and exit 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if not args:  # help, but a non-zero exit: no command was given
            try:
                app(args=["--help"], prog_name="llmad")
            except SystemExit:
                pass
            sys.exit(2)
        app(args=args, prog_name="llmad")
    except LlmadError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except FileNotFoundError as e:
        err.print(f"[red]error:[/] {escape(str(e.filename or e))}: no such file", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("aborted")
        sys.exit(130)


if __name__ == "__main__":
    main()
