"""Distributed batch scoring with Ray Data: ``llmad detect DIR INPUT --engine ray``.

The files of INPUT (a folder of CSV / Parquet job records or raw log files) become a Ray dataset of paths;
``map_batches`` sends them to a pool of model actors — each loads the detector once and scores whole files
through the run API (:func:`llmad.runs.score_file_part`), so a run's jobs and a log file's sessions stay
together and every file scores exactly as the single-process path scores it. Results come back in input
order. Locally Ray starts a cluster of this machine; ``address`` joins an existing one (``ray://…`` or
``auto``), where every node needs llmad and the model folder at the same path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from llmad import LlmadError, runs


class _ScoreActor:
    def __init__(self, model_dir: str, log_options: dict | None, threads: int | None):
        if threads:
            from llmad.threads import set_threads

            set_threads(threads)
        from llmad.detectors.base import load_detector

        self.det = load_detector(model_dir)
        self.log_options = log_options

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for order, path in zip(batch["order"], batch["path"]):
            res = runs.score_file_part(self.det, Path(path), self.log_options)
            read = res.attrs.get("read") or {}
            res.insert(0, "order", int(order))
            for key in ("lines", "windows", "quarantined"):  # what was read, on the file's first row
                res[f"_read_{key}"] = [read.get(key, -1)] + [-1] * (len(res) - 1) if len(res) else []
            parts.append(res)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def score_with_ray(model_dir: str | Path, inputs: Any, *, address: str | None = None, actors: int = 2,
                   log_options: dict | None = None, reporter: runs.Reporter = runs.SILENT) -> pd.DataFrame:
    """:func:`llmad.runs.score_files` on a Ray cluster: the same rows, in the same order."""
    try:
        import ray
    except ImportError:
        raise LlmadError("--engine ray needs Ray Data: pip install 'llmad[ray]'") from None
    if actors < 1:
        raise LlmadError(f"actors must be at least 1, got {actors}")
    model_dir = str(Path(model_dir).resolve())
    from llmad.detectors.base import load_detector

    det = load_detector(model_dir)  # fails here, clearly, before a cluster starts
    files = runs.input_files(inputs)
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
        if address is None:
            from llmad.threads import threads

            kw["num_cpus"] = threads()
        ray.init(**{k: v for k, v in kw.items() if k != "address" or v is not None})
        started = True
    try:
        from ray.data import ActorPoolStrategy

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = max(1, min(actors, len(files)))
        per_actor = max(1, cpus // n)
        ds = ray.data.from_items([{"order": i, "path": str(f.resolve())} for i, f in enumerate(files)],
                                 override_num_blocks=len(files))
        with reporter.task(f"scoring {len(files)} files on Ray ({n} actors)") as update:
            out = ds.map_batches(_ScoreActor, batch_size=1, batch_format="pandas", compute=ActorPoolStrategy(size=n),
                                 num_cpus=per_actor,
                                 fn_constructor_args=(model_dir, log_options, per_actor)).to_pandas()
            update(len(files), len(files))
    finally:
        if started:
            ray.shutdown()
    if not len(out):
        return runs.combine_parts([], det, len(files))
    out = out.sort_values("order", kind="stable")
    parts = []
    for _, g in out.groupby("order", sort=True):
        g = g.drop(columns=["order"]).reset_index(drop=True)
        read = {k: int(g[f"_read_{k}"].iloc[0]) for k in ("lines", "windows", "quarantined")
                if g[f"_read_{k}"].iloc[0] != -1}
        g = g.drop(columns=[c for c in g.columns if c.startswith("_read_")])
        g.attrs = {"read": read}
        parts.append(g)
    res = runs.combine_parts(parts, det, len(files))
    runs.note_truncated(det, res, reporter)
    return res


__all__ = ["score_with_ray"]
