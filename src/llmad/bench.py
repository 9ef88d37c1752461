"""``llmad bench``: speed and memory of the fine-tuning engine, measured side by side in one run.

For each adapter on the same fixed Flow-Bench slice (run split, seed 0): training samples/s and peak
memory over one pass of the training slice, then inference records/s with PyTorch (fp32) and with the
int8 ONNX Runtime engine. The default detector's model (LoRA, merged) is also scored by a plain
``transformers.pipeline("text-classification")`` on the same texts, so the speed-up is a ratio of
figures taken minutes apart on the same machine rather than a number against a remembered baseline.
"""

from __future__ import annotations

import os
import platform
import resource
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from llmad import LlmadError, __version__
from llmad.config import replace

ADAPTERS = ("head", "lora", "reft", "full")


@dataclass
class BenchConfig:
    dataset: str = "flowbench/sample"
    backbone: str = "minilm-l3"  # the fine-tuned detector's default backbone
    adapters: tuple[str, ...] = ADAPTERS
    template: str = "deciles"
    n_train: int = 512
    n_infer: int = 2000
    batch_size: int = 32
    max_length: int = 64
    layers: int | None = None
    pipeline: bool = True
    seed: int = 0

    def __post_init__(self):
        unknown = [a for a in self.adapters if a not in ADAPTERS]
        if unknown:
            raise LlmadError(f"unknown adapter(s) {unknown}; choose from {', '.join(ADAPTERS)}")
        if self.n_train < self.batch_size or self.n_infer < 1:
            raise LlmadError("bench needs n_train >= batch size and n_infer >= 1")


@dataclass
class BenchResult:
    config: dict
    rows: list[dict] = field(default_factory=list)
    pipeline: dict | None = None
    environment: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the process's peak so far (an upper bound)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def peak_memory():
    """Peak resident memory (MiB) above the level at entry, sampled every 10 ms; CUDA peak when on a GPU."""
    import torch

    stats = {"peak_mib": 0.0}
    base = _rss_mib()
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            stats["peak_mib"] = max(stats["peak_mib"], _rss_mib() - base)
            stop.wait(0.01)

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield stats
    finally:
        stop.set()
        t.join()
        stats["peak_mib"] = round(max(stats["peak_mib"], _rss_mib() - base), 1)
        if cuda:
            stats["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)


def _slices(cfg: BenchConfig, reporter):
    from llmad import runs
    from llmad.detectors.finetuned import subsample

    prep = runs.prepare(cfg.dataset, None, cfg.seed, reporter=reporter)
    parts = prep.parts
    train = parts["train"]
    idx = subsample(len(train), train["label"].to_numpy(), None, cfg.n_train, cfg.seed)
    train = train.iloc[idx]
    test = parts["test"]
    if len(test) > cfg.n_infer:
        test = test.iloc[np.sort(np.random.RandomState(cfg.seed).choice(len(test), cfg.n_infer, replace=False))]
    return train, test


def _timed(fn, *a):
    t0 = time.perf_counter()
    out = fn(*a)
    return out, time.perf_counter() - t0


def run_bench(cfg: BenchConfig, reporter=None) -> BenchResult:
    """Measure every adapter of ``cfg`` on one fixed slice; ``reporter`` (:class:`llmad.runs.Reporter`) logs."""
    import torch

    from llmad import runs
    from llmad.detectors.catalog import make_detector
    from llmad.models.onnx_int8 import onnx_available
    from llmad.text.layer import text_layer_for

    reporter = reporter or runs.SILENT
    log = reporter.log
    train, test = _slices(cfg, reporter)
    from llmad.text.records import CONTEXT_TEMPLATES

    tr, te = train, test
    if cfg.template in CONTEXT_TEMPLATES:  # the texts the pipeline reads carry the run context too
        from llmad.context import RunContext

        ctx = RunContext.fit(train, "batch")
        tr, te = ctx.transform(train), ctx.transform(test)
    texts = text_layer_for(tr, cfg.template).fit(tr).transform(te)
    res = BenchResult(config=asdict(cfg))
    from llmad.threads import threads

    res.environment = {"llmad": __version__, "torch": torch.__version__, "python": platform.python_version(),
                       "threads": threads(), "cpu_count": os.cpu_count(),
                       "device": "cuda" if torch.cuda.is_available() else "cpu",
                       "machine": platform.machine(), "n_train": len(train), "n_infer": len(test),
                       "unique_infer_texts": len(set(texts))}
    lora_model = None
    for adapter in cfg.adapters:
        log(f"[{adapter}] training on {len(train)} records ...")
        det = make_detector("sft", backbone=cfg.backbone, adapter=adapter, template=cfg.template,
                            max_length=cfg.max_length, layers=cfg.layers, seed=cfg.seed, inference="torch",
                            train={"epochs": 1, "batch_size": cfg.batch_size, "early_stopping": 0})
        with peak_memory() as mem_train:
            det._fit(train, None)  # the training pass alone: the threshold pass would time scoring too
        hist = det.info_["training"]
        row = {"adapter": adapter, "trainable_params": det.info_["parameters"]["trainable"],
               "train_samples_per_s": hist["train_samples_per_s"], "train_peak_mib": mem_train["peak_mib"]}
        with peak_memory() as mem_inf:
            det.decision_function(test.iloc[: min(64, len(test))])  # warm-up (allocations, merge)
            _, dt = _timed(det.decision_function, test)
        row["infer_torch_per_s"] = round(len(test) / dt, 1)
        row["infer_torch_peak_mib"] = mem_inf["peak_mib"]
        if onnx_available() and res.environment["device"] == "cpu":
            det.config = replace(det.config, inference="int8")
            det._infer = None
            _, build_s = _timed(det._inference_model)
            with peak_memory() as mem_q:
                _, dt = _timed(det.decision_function, test)
            row["infer_int8_per_s"] = round(len(test) / dt, 1)
            row["int8_export_seconds"] = round(build_s, 2)
            row["infer_int8_peak_mib"] = mem_q["peak_mib"]
        res.rows.append(row)
        log(f"[{adapter}] " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "adapter"))
        if adapter == "lora":
            lora_model = (det._merged(), det.tokenizer_)
    if cfg.pipeline and lora_model is not None:
        res.pipeline = _pipeline_bench(*lora_model, texts, cfg, log)
        best = max(r.get("infer_int8_per_s", r["infer_torch_per_s"]) for r in res.rows if r["adapter"] == "lora")
        res.pipeline["speedup_default_detector"] = round(best / res.pipeline["default_per_s"], 2)
    return res


def _pipeline_bench(model, tokenizer, texts: list[str], cfg: BenchConfig, log) -> dict:
    """A plain ``transformers.pipeline`` on the same model and texts: as most users call it, and batched."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    kw = {"truncation": True, "max_length": cfg.max_length}
    pipe(texts[:8], **kw)
    _, dt1 = _timed(lambda: pipe(texts, **kw))
    _, dt2 = _timed(lambda: pipe(texts, batch_size=cfg.batch_size, **kw))
    out = {"default_per_s": round(len(texts) / dt1, 1), f"batch{cfg.batch_size}_per_s": round(len(texts) / dt2, 1)}
    log("[pipeline] " + ", ".join(f"{k} {v}" for k, v in out.items()))
    return out
