"""Running a study: every pending cell, in this process or in ``jobs`` worker processes, each saved as it
finishes; a failing cell is recorded with its error and the study goes on; then the report.

    from llmad.studies import run_study
    doc = run_study("stability", "configs/stability-cpu.toml", "runs/stability")
"""

from __future__ import annotations

import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from llmad import LlmadError
from llmad.runs import SILENT, Reporter
from llmad.studies.config import StudyConfig, read_config
from llmad.studies.grid import plan
from llmad.studies.store import CellStore, cell_key


def _timed_cell(params: dict, threads: int | None = None) -> dict:
    """One cell, never raising: ``status`` ok with ``result``, or failed with ``error`` and its traceback."""
    if threads is not None:
        from llmad.threads import set_threads

        set_threads(threads)
    from llmad.studies.cells import run_cell

    t0 = time.perf_counter()
    try:
        result = run_cell(params)
        status, error = "ok", None
    except Exception as e:  # a failing cell is recorded; the study goes on
        result = None
        status = "failed"
        error = {"type": type(e).__name__, "message": str(e).splitlines()[0] if str(e) else type(e).__name__,
                 "traceback": traceback.format_exc(limit=8)}
    return {"status": status, "result": result, "error": error, "seconds": round(time.perf_counter() - t0, 3)}


def run_study(study: str, config: str | Path | StudyConfig | None, out: str | Path, *, jobs: int = 1,
              retry_failed: bool = False, reporter: Reporter = SILENT, command: str | None = None,
              report: bool = True) -> dict:
    """Run the cells of ``study`` not yet in ``out`` and write ``results.json`` (and the report).

    ``jobs`` > 1 runs cells in that many worker processes (each with its share of the CPUs). A rerun of the
    same command skips finished cells (failed ones too, unless ``retry_failed``); a cell cut by an
    interruption runs again. Returns the ``results.json`` document.
    """
    if jobs < 1:
        raise LlmadError(f"jobs must be at least 1, got {jobs}")
    if isinstance(config, StudyConfig):
        cfg, text, cfg_path = config, "", None
    else:
        cfg, text = read_config(config, study)
        cfg_path = str(config) if config is not None else None
    cells = plan(study, cfg)
    store = CellStore(out)
    keys = [cell_key(c) for c in cells]
    pending = [(k, c) for k, c in zip(keys, cells) if not store.done(k, retry_failed)]
    if store.torn:
        reporter.log(f"{store.torn} cell cut short by an interruption will run again")
    skipped = len(cells) - len(pending)
    if skipped:
        reporter.log(f"resuming: {skipped} of {len(cells)} cells already in {store.path}")
    meta = {"study": study, "config_file": cfg_path, "config_text": text, "config": cfg.to_dict(),
            "command": command, "jobs": jobs}

    def record(key: str, params: dict, res: dict) -> None:
        store.add({"key": key, "params": params, **res, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        if res["status"] == "failed":
            reporter.log(f"cell failed ({_label(params)}): {res['error']['type']}: {res['error']['message']}")
        store.write_results(_document(meta, cells, keys, store))

    with reporter.task(f"{study}: {len(pending)} cells to run" + (f" ({skipped} done)" if skipped else "")) as update:
        update(0, len(pending))
        if jobs == 1 or len(pending) <= 1:
            for i, (key, params) in enumerate(pending):
                record(key, params, _timed_cell(params))
                update(i + 1, len(pending))
        else:
            _run_parallel(pending, jobs, record, update)
    doc = _document(meta, cells, keys, store)
    store.write_results(doc)
    if report:
        from llmad.studies.report import write_report

        doc["report"] = write_report(doc, Path(out))
    return doc


def _run_parallel(pending: list[tuple[str, dict]], jobs: int, record, update) -> None:
    import multiprocessing as mp

    from llmad.threads import threads

    per = max(1, threads() // jobs)
    done = 0
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_timed_cell, params, per): (key, params) for key, params in pending}
        try:
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for f in finished:
                    key, params = futures.pop(f)
                    try:
                        res = f.result()
                    except Exception as e:  # the worker itself died (out of memory, killed)
                        res = {"status": "failed", "result": None, "seconds": None,
                               "error": {"type": type(e).__name__, "message": str(e) or "worker process died",
                                         "traceback": ""}}
                    record(key, params, res)
                    done += 1
                    update(done, len(pending))
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            raise


def _label(p: dict) -> str:
    extra = [f"{k}={p[k]}" for k in ("fraction", "then", "to", "init", "prompt", "demos", "calibrate") if k in p]
    return ", ".join([p["dataset"], p["detector"], f"seed {p['seed']}"] + extra)


def _document(meta: dict, cells: list[dict], keys: list[str], store: CellStore) -> dict:
    from llmad.studies.provenance import provenance

    rows = []
    for key, params in zip(keys, cells):
        rec = store.cells.get(key)
        rows.append({"key": key, "params": params, "status": rec["status"] if rec else "pending",
                     "result": rec.get("result") if rec else None, "error": rec.get("error") if rec else None,
                     "seconds": rec.get("seconds") if rec else None})
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    datasets = sorted({c["dataset"] for c in cells} | {d for c in cells for d in
                                                        ([c["then"]] if "then" in c else []) +
                                                        ([c["to"]] if "to" in c else []) + c.get("test_on", [])})
    return {**meta, "cells": rows, "counts": counts, "provenance": provenance(datasets, cells)}


def default_out(study: str) -> Path:
    return Path(os.environ.get("LLMAD_RUNS", "runs")) / "studies" / study


__all__ = ["run_study", "default_out"]
