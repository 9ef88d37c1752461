"""The ``llmad`` command line; it mirrors the Python API."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmad import LlmadError, __version__, datasets
from llmad.data.splits import LEAKY, PROTOCOLS, SPLITS, SplitConfig, split
from llmad.detectors import load_detector, make_detector
from llmad.eval import metrics

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="llmad: anomaly detection in workflows and logs with language models.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: list, stats, export, download.")
app.add_typer(data_app, name="data")
out = Console()
err = Console(stderr=True)


@contextmanager
def _progress(desc: str):
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as p:
        task = p.add_task(desc, total=None)

        def update(done: int, total: int):
            p.update(task, completed=done, total=total)

        yield update


def _load(name: str, log_options=None):
    with _progress(f"reading {datasets.canonical(name)}") as upd:
        if datasets.is_logs(name):
            return datasets.load(name, progress=upd, log_options=log_options)
        return datasets.load(name, progress=upd)


# ---------------------------------------------------------------- system logs (options, stats, download, detect)
FORMAT_OPT = typer.Option(None, "--format", help="[logs] Line format: hdfs, bgl, thunderbird, spirit or '<Date> <Time> ... <Content>'.")
GROUPING_OPT = typer.Option(None, "--grouping", help="[logs] fixed, line, time or session (default per dataset).")
WINDOW_OPT = typer.Option(None, "--window", help="[logs] Window size: lines (fixed) or seconds (time).")
STEP_OPT = typer.Option(None, "--step", help="[logs] Window step (default: the window size).")
LABELS_OPT = typer.Option(None, "--labels", help="[logs] anomaly_label.csv (BlockId,Label) or anomalous-id list for sessions.")
DEDUP_OPT = typer.Option(False, "--dedup", help="[logs] Drop validation/test windows identical to a training window (reported).")


def _log_options(fmt, grouping, window, step, labels, dedup=False, base: Optional[dict] = None):
    from llmad.data.logs import LogOptions

    opts = LogOptions.from_dict(base)
    return opts.merged(format=fmt, grouping=grouping, window=window, step=step, labels=labels,
                       dedup=dedup or None)


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


def _detect_log(det, log_file: Path, out_file: Path, opts):
    from llmad.data.logs.sources import LogOptions, apply_templates_from, file_windows, scoring_options
    from llmad.data.logs.templates import TemplateModel

    opts = scoring_options(det.info_.get("dataset"), opts if opts is not None else LogOptions())
    with _progress(f"reading {log_file}") as upd:
        w = file_windows(log_file, opts, progress=upd)
    state = Path(det.info_.get("model_dir", "")) / "templates.json"
    if opts.text == "templates" and state.is_file():
        w = apply_templates_from(w, TemplateModel.load(state), opts)
    scores = det.decision_function(w)
    labels = (scores >= det.threshold_).astype(int)
    with open(out_file, "w", encoding="utf-8") as fh:
        for r, sc, lab in zip(w.itertuples(index=False), scores, labels):
            rec = {"window_id": int(r.window_id), "source": r.source, "first_line": int(r.first_line),
                   "last_line": int(r.last_line), "n_lines": int(r.n_lines), "score": float(sc), "label": int(lab)}
            if r.session is not None:
                rec["session"] = r.session
            if r.label != -1:
                rec["true_label"] = int(r.label)
            fh.write(json.dumps(rec) + "\n")
    q = sum(s["quarantined"] for s in w.attrs["logs"]["sources"])
    err.print(f"scored {len(w)} windows of {log_file} ({int(labels.sum())} anomalous; lines "
              f"{w.attrs['logs']['lines']} read, {q} quarantined) -> {out_file}")


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


@data_app.command("stats")
def data_stats(dataset: str, json_out: bool = typer.Option(False, "--json", help="Print JSON."),
               fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT,
               window: Optional[float] = WINDOW_OPT, step: Optional[float] = STEP_OPT,
               labels: Optional[str] = LABELS_OPT, dedup: bool = DEDUP_OPT):
    """Flow-Bench: runs, jobs and anomalous jobs per run category. Logs: lines, windows, anomalous
    windows per part, quarantined lines."""
    if datasets.is_logs(dataset):
        _log_stats(dataset, _load(dataset, _log_options(fmt, grouping, window, step, labels, dedup)), json_out)
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
    dataset: str,
    out_file: Path = typer.Option(..., "--out", help="CSV to write (columns text,label)."),
    template: str = typer.Option("paper", help="Text template: paper, readable, context, compact, deciles."),
    split_kind: Optional[str] = typer.Option(None, "--split", help=f"Split: {', '.join(SPLITS)}."),
    part: str = typer.Option("test", help="Part of the split: train, valid, test."),
    seed: int = typer.Option(0, help="Split seed (the 'paper' split always uses 42)."),
    fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT, window: Optional[float] = WINDOW_OPT,
    step: Optional[float] = STEP_OPT, labels: Optional[str] = LABELS_OPT, dedup: bool = DEDUP_OPT,
):
    """Write records as text with labels (whole dataset when no split is given)."""
    import pandas as pd

    from llmad.text import render

    if datasets.is_logs(dataset):  # windows: text, label and where they come from
        table = _load(dataset, _log_options(fmt, grouping, window, step, labels, dedup))
        if split_kind:
            table = _part(split(table, SplitConfig(split_kind, seed)), part)
        table[["window_id", "part", "source", "first_line", "last_line", "n_lines", "session", "text", "label"]].to_csv(
            out_file, index=False)
        err.print(f"wrote {len(table)} rows to {out_file}")
        return
    from llmad.text import fit_template, needs_fit

    table = _load(dataset)
    state = None
    if needs_fit(template) and not split_kind:
        raise LlmadError(f"template {template!r} learns from training records: give --split, and it is fitted "
                         "on that split's train part")
    if split_kind:
        parts = split(table, SplitConfig(split_kind, seed))
        state = fit_template(template, parts["train"])
        table = _part(parts, part)
    pd.DataFrame({"text": render(table, template, state), "label": table["label"].astype(int).to_numpy()}).to_csv(
        out_file, index=False)
    err.print(f"wrote {len(table)} rows to {out_file}")


def _part(parts: dict, part: str):
    if part not in parts:
        raise LlmadError(f"unknown part {part!r}; choose train, valid or test")
    return parts[part]


# ---------------------------------------------------------------- train / evaluate / detect
def _int_list(text: Optional[str]) -> Optional[list[int]]:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LlmadError(f"expected comma-separated integers, got {text!r}") from None


@app.command()
def train(
    dataset: str,
    detector: str = typer.Option("gbdt", help="Detector: gbdt, iforest, tfidf (text + logistic regression), sft (language model)."),
    split_kind: Optional[str] = typer.Option(None, "--split", help=f"Split: {', '.join(SPLITS)} (default: run; logs: the loader's)."),
    seed: int = typer.Option(0, help="Seed for the split and the detector."),
    out_dir: Path = typer.Option(..., "--out", help="Folder to save the detector in."),
    features: str = typer.Option("paper", help="[gbdt/iforest] Numeric features: paper (9) or all."),
    backbone: str = typer.Option("minilm", help="[sft] Backbone: minilm, smollm2, a Hugging Face id or a path."),
    adapter: str = typer.Option("lora", help="[sft] Adapter: full, head, lora, reft."),
    template: Optional[str] = typer.Option(None, help="[sft/tfidf] Flow-Bench text template: deciles (sft default), compact, paper, readable (tfidf default), context."),
    max_length: int = typer.Option(128, help="[sft] Max tokens per record (longer ones are truncated)."),
    layers: Optional[int] = typer.Option(None, help="[sft] Keep only the first N transformer layers (faster; default all)."),
    truncation: str = typer.Option("head", help="[sft] Texts longer than --max-length: keep the head, or head-tail (drop the middle)."),
    epochs: float = typer.Option(3.0, help="[sft] Epochs (fractions allowed)."),
    lr: Optional[float] = typer.Option(None, help="[sft] Learning rate (default per adapter)."),
    batch_size: int = typer.Option(32, help="[sft] Batch size."),
    grad_accum: int = typer.Option(1, help="[sft] Gradient accumulation steps."),
    balance: str = typer.Option("weights", help="[sft] Class balance: weights, oversample, none."),
    early_stopping: int = typer.Option(2, help="[sft] Evaluations without improvement before stopping (0 = off)."),
    monitor: str = typer.Option("f1", help="[sft] Early-stopping metric on validation: f1 or loss."),
    eval_every: int = typer.Option(0, help="[sft] Evaluate every N steps (0 = each epoch)."),
    max_train: Optional[int] = typer.Option(None, help="[sft] Use at most N training records (stratified, seeded)."),
    train_frac: Optional[float] = typer.Option(None, help="[sft] Use this fraction of the training records."),
    precision: str = typer.Option("auto", help="[sft] auto (bf16 on GPU), fp32, bf16, fp16."),
    lora_r: int = typer.Option(8, help="[sft/lora] Rank."),
    lora_alpha: int = typer.Option(32, help="[sft/lora] Alpha."),
    lora_dropout: float = typer.Option(0.1, help="[sft/lora] Dropout."),
    reft_rank: int = typer.Option(4, help="[sft/reft] Rank of the LoReFT subspace."),
    reft_layers: Optional[str] = typer.Option(None, help="[sft/reft] Layers, e.g. 0,2,4 (default all)."),
    reft_positions: int = typer.Option(2, help="[sft/reft] Intervene on the first and last N tokens."),
    checkpoint_dir: Optional[Path] = typer.Option(None, help="[sft] Checkpoint folder; a rerun resumes from it."),
    inference: str = typer.Option("auto", help="[sft] Scoring engine: auto (int8 ONNX Runtime on CPU), torch, int8."),
    fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT, window: Optional[float] = WINDOW_OPT,
    step: Optional[float] = STEP_OPT, labels: Optional[str] = LABELS_OPT, dedup: bool = DEDUP_OPT,
):
    """Fit a detector on the train part, pick its threshold on validation, save it."""
    log_opts = _log_options(fmt, grouping, window, step, labels, dedup) if datasets.is_logs(dataset) else None
    table = _load(dataset, log_opts)
    split_kind = split_kind or table.attrs.get("split", "run")
    parts = split(table, SplitConfig(split_kind, seed))
    if detector == "sft":
        params = dict(
            backbone=backbone, template=template or "deciles", max_length=max_length, max_train=max_train,
            train_frac=train_frac, seed=seed, inference=inference, layers=layers, truncation=truncation,
            adapter={"kind": adapter, "lora": {"r": lora_r, "alpha": lora_alpha, "dropout": lora_dropout},
                     "reft": {"rank": reft_rank, "layers": _int_list(reft_layers), "positions": reft_positions}},
            train={"epochs": epochs, "lr": lr, "batch_size": batch_size, "grad_accum": grad_accum,
                   "balance": balance, "early_stopping": early_stopping, "monitor": monitor,
                   "eval_every": eval_every, "precision": precision},
        )
    elif detector == "tfidf":
        params = dict(seed=seed, **({"template": template} if template else {}))
    else:
        params = dict(features=features, seed=seed)
    det = make_detector(detector, **params)
    t0 = time.perf_counter()
    if detector == "sft":
        det.fit(parts["train"], parts["valid"], checkpoint_dir=checkpoint_dir)
    else:
        det.fit(parts["train"], parts["valid"])
    det.info_.update({"dataset": datasets.canonical(dataset), "split": split_kind, "seed": seed,
                      "n_train": int(len(parts["train"])), "n_valid": int(len(parts["valid"])),
                      "fit_seconds": round(time.perf_counter() - t0, 3)})
    if log_opts is not None:
        det.info_["log_options"] = log_opts.to_dict()
    det.save(out_dir)
    tpl = table.attrs.get("logs", {}).get("templates")
    if tpl:  # the drain3 state the texts were built with, for detect on new files
        import shutil

        shutil.copyfile(tpl["state_file"], Path(out_dir) / "templates.json")
    extra = ""
    if "parameters" in det.info_:
        pc = det.info_["parameters"]
        extra = f"; trainable parameters {pc['trainable']:,} of {pc['total']:,} ({pc['percent']}%)"
    err.print(f"saved {detector} to {out_dir} (threshold {det.threshold_:.4g} from validation{extra})")


def evaluate_detector(det, dataset: str, split_kind: str, part: str, seed: int, perturbation=None) -> dict:
    """Score one part of a split and compute the metrics (the API behind ``llmad evaluate``).

    ``perturbation`` (a :class:`llmad.data.logs.perturb.Perturbation`) rewrites the test windows first.
    """
    log_opts = None
    from llmad.data.logs import LogOptions

    if datasets.is_logs(dataset):
        log_opts = LogOptions.from_dict(det.info_.get("log_options"))
    table = _load(dataset, log_opts)
    data = _part(split(table, SplitConfig(split_kind, seed)), part)
    if perturbation is not None:
        from llmad.data.logs.perturb import perturb

        if part != "test":
            raise LlmadError("perturbations apply to the test part only")
        from llmad.data.logs.text import TextConfig

        opts = log_opts or LogOptions()
        if opts.text != "masked":
            raise LlmadError("perturbations rewrite masked messages; this model reads template sequences")
        data = perturb(data, perturbation, TextConfig("masked", opts.separator, opts.collapse_repeats, opts.max_chars))
    scores = det.decision_function(data)
    m = metrics.compute(data["label"].to_numpy(), scores, det.threshold_).to_dict()
    m.update({"split": split_kind, "part": part, "dataset": datasets.canonical(dataset), "seed": seed,
              "leaky": LEAKY[split_kind], "detector": det.name,
              "protocol": f"{PROTOCOLS[split_kind]}, threshold from validation (max F1)",
              "llmad_version": __version__})
    if perturbation is not None:
        m["perturbation"] = perturbation.name
    return m


@app.command()
def evaluate(
    model_dir: Path,
    dataset: Optional[str] = typer.Option(None, help="Dataset (default: the one trained on)."),
    split_kind: Optional[str] = typer.Option(None, "--split", help="Split (default: the one trained with)."),
    part: str = typer.Option("test", help="train, valid or test."),
    seed: Optional[int] = typer.Option(None, help="Split seed (default: the training seed)."),
    perturb: Optional[str] = typer.Option(None, help="[logs] Unstable-log test: KIND:RATIO[:SEED], e.g. "
                                          "insert_words:0.1 (insert_words, drop_events, duplicate_events, shuffle_events)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Evaluate a saved detector on a part of a split (threshold as chosen at training)."""
    det = load_detector(model_dir)
    ds = dataset or det.info_.get("dataset")
    if not ds:
        raise LlmadError("no --dataset given and the model does not record one")
    sk = split_kind or det.info_.get("split", "run")
    if dataset and datasets.is_logs(dataset) and not split_kind and not det.info_.get("dataset", "").startswith("logs"):
        sk = _load(dataset).attrs.get("split", sk)
    sd = seed if seed is not None else int(det.info_.get("seed", 0))
    pert = None
    if perturb:
        from llmad.data.logs.perturb import Perturbation

        bits = perturb.split(":")
        try:
            pert = Perturbation(bits[0], float(bits[1]) if len(bits) > 1 else 0.1, int(bits[2]) if len(bits) > 2 else 0)
        except ValueError:
            raise LlmadError(f"--perturb takes KIND:RATIO[:SEED], e.g. insert_words:0.1; got {perturb!r}") from None
    m = evaluate_detector(det, ds, sk, part, sd, pert)
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
    out.print(t)
    if m["leaky"]:
        out.print("[bold yellow]warning:[/] the 'paper' split is leaky (jobs of one run in train and test)")


@app.command()
def detect(
    model_dir: Path,
    input_csv: Path = typer.Argument(..., help="A CSV of job records, or a raw log file for a log model."),
    out_file: Path = typer.Option(..., "--out", help="JSON-lines file: one {id, score, label} per record "
                                  "(logs: per window, with first_line / last_line)."),
    fmt: Optional[str] = FORMAT_OPT, grouping: Optional[str] = GROUPING_OPT, window: Optional[float] = WINDOW_OPT,
    step: Optional[float] = STEP_OPT, labels: Optional[str] = LABELS_OPT,
):
    """Score a CSV of job records (Flow-Bench columns) or a raw log file (per window, with line ranges)."""
    from llmad.data.flowbench import read_records_csv

    det = load_detector(model_dir)
    if fmt or "log_options" in det.info_:
        det.info_["model_dir"] = str(model_dir)
        base = {k: v for k, v in det.info_.get("log_options", {}).items()
                if k not in ("format", "grouping", "window", "step", "labels", "dedup", "train", "valid")}
        _detect_log(det, input_csv, out_file, _log_options(fmt, grouping, window, step, labels, base=base))
        return
    records = read_records_csv(input_csv)
    scores = det.decision_function(records)
    labels = (scores >= det.threshold_).astype(int)
    with open(out_file, "w", encoding="utf-8") as fh:
        for i, s, lab in zip(records["job_id"].astype(str), scores, labels):
            fh.write(json.dumps({"id": i, "score": float(s), "label": int(lab)}) + "\n")
    err.print(f"scored {len(records)} records ({int(labels.sum())} anomalous) -> {out_file}")


@app.command()
def bench(
    dataset: str = typer.Option("flowbench/sample", help="Dataset the fixed slice is cut from (run split, seed 0)."),
    backbone: str = typer.Option("minilm", help="Backbone."),
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
    res = run_bench(cfg, log=lambda m: err.print(m, markup=False)).to_dict()
    res["command"] = "llmad " + " ".join(sys.argv[1:])
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


DEMO_SFT = dict(backbone="minilm", adapter="lora", template="deciles", max_length=32, max_train=2000,
                train={"epochs": 2, "batch_size": 32})


@app.command()
def demo(
    detectors: str = typer.Option("gbdt,sft", help="Comma-separated detectors to train side by side."),
    seed: int = typer.Option(0, help="Seed."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list, one object per detector."),
):
    """The main job on the embedded defaults: the packaged Flow-Bench sample and the packaged MiniLM.

    Trains each detector on a run split (threshold from validation) and reports test metrics.
    The language model is fine-tuned with LoRA on at most 2,000 training records for 2 epochs so the demo
    finishes in about a minute on a laptop CPU.
    """
    ds = "flowbench/sample"
    table = _load(ds)
    parts = split(table, SplitConfig("run", seed))
    results = []
    for name in [d.strip() for d in detectors.split(",") if d.strip()]:
        params = {**DEMO_SFT, "seed": seed} if name == "sft" else {"seed": seed}
        t0 = time.perf_counter()
        det = make_detector(name, **params).fit(parts["train"], parts["valid"])
        fit_s = time.perf_counter() - t0
        scores = det.decision_function(parts["test"])
        m = metrics.compute(parts["test"]["label"].to_numpy(), scores, det.threshold_).to_dict()
        m.update({"split": "run", "part": "test", "dataset": ds, "seed": seed, "leaky": False, "detector": name,
                  "fit_seconds": round(fit_s, 1), "llmad_version": __version__,
                  "command": f"llmad demo --detectors {detectors} --seed {seed}"})
        if name == "sft":
            m["model"] = "sft (minilm + lora, deciles)"
        results.append(m)
    if json_out:
        print(json.dumps(results))
        return
    t = Table("detector", "F1", "precision", "recall", "ROC-AUC", "PR-AUC", "fit s",
              title=f"{ds}: {table['run_id'].nunique()} runs of 1000genome, run split, test part (n={results[0]['n']})")
    for m in results:
        t.add_row(m.get("model", m["detector"]), *(f"{m[k]:.3f}" for k in ("f1", "precision", "recall", "roc_auc", "pr_auc")),
                  f"{m['fit_seconds']:.1f}")
    out.print(t)
    out.print("threshold: max F1 on validation. Data: Flow-Bench (CC BY 4.0), see the package's ATTRIBUTION.md.")


@app.command()
def version():
    """Print the llmad version."""
    print(__version__)


def main():
    try:
        app(standalone_mode=False)
    except LlmadError as e:
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except FileNotFoundError as e:
        err.print(f"[red]error:[/] {e.filename or e}: no such file", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors arrive as click exceptions
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
