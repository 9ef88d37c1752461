"""Flow-Bench workflows: per-run CSVs in a zip (as distributed upstream) -> one table of jobs.

Each row is a job. Columns added by the loader: ``job_id``, ``run_id``, ``workflow``,
``run_category`` (normal / cpu_2 / cpu_3 / cpu_4 / hdd_5 / hdd_10), ``anomaly_type`` and ``label``
(0 normal, 1 anomalous). Numeric upstream columns are kept as float64.

Labels are decided by the worker host a job ran on, so host-identifying columns are kept for
analysis only: :func:`feature_columns` refuses them, and every detector checks its inputs with
:func:`assert_no_banned`.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.paths import data_dir, packaged_dir

WORKFLOWS = (
    "1000genome", "montage", "predict_future_sales", "variant_calling", "casa_wind_full",
    "casa_nowcast_full", "somospie", "pycbc_inference", "pycbc_search", "eht_difmap",
    "eht_imaging", "eht_smili",
)
SAMPLE = "sample"  # packaged: a subset of 1000genome runs shipped inside llmad

# The 9 job features of the seed paper (Jin et al., SC'24), in the paper's order.
PAPER_FEATURES = (
    "wms_delay", "queue_delay", "runtime", "post_script_delay", "stage_in_delay",
    "stage_out_delay", "stage_in_bytes", "stage_out_bytes", "kickstart_executables_cpu_time",
)
# The six delay features used by the paper's in-context-learning prompts.
DELAY_FEATURES = PAPER_FEATURES[:6]

# Columns that identify the host (and so give the label away). Never features.
BANNED_EXACT = frozenset({"kickstart_hostname", "kickstart_site", "kickstart_user", "node_id", "host"})
_BANNED_RE = re.compile(r"(host|site|node|worker)", re.IGNORECASE)
# Bookkeeping columns that are not features either (ids, labels, absolute timestamps).
NON_FEATURES = frozenset({
    "job_id", "run_id", "workflow", "run_category", "anomaly_type", "label", "run_start",
    "ready", "pre_script_start", "pre_script_end", "submit", "stage_in_start", "stage_in_end",
    "execute_start", "execute_end", "stage_out_start", "stage_out_end", "post_script_start",
    "post_script_end",
})
CATEGORIES = ("normal", "cpu_2", "cpu_3", "cpu_4", "hdd_5", "hdd_10")
# what ``--target type`` predicts: the kind of stress injected on the job's worker (K of cpu_K / hdd_K dropped)
TYPES = ("normal", "cpu", "hdd")
REQUIRED_COLUMNS = ("anomaly_type",) + PAPER_FEATURES
try:  # the strings pandas reads as missing by default (documented in read_csv's na_values)
    from pandas._libs.parsers import STR_NA_VALUES as _PANDAS_NA
except ImportError:  # pragma: no cover - a pandas that moved it
    _PANDAS_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                  "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}

_TEXT_COLUMNS = (
    "anomaly_type", "type", "kickstart_user", "kickstart_site", "kickstart_hostname",
    "kickstart_transformations", "kickstart_executables", "kickstart_executables_argv",
)


def is_banned(column: str) -> bool:
    """True for a column that identifies the host a job ran on (label leakage)."""
    return column in BANNED_EXACT or bool(_BANNED_RE.search(column))


def assert_no_banned(columns: Iterable[str]) -> None:
    """Raise if any host-identifying column is about to become a model feature."""
    bad = sorted(c for c in columns if is_banned(c))
    if bad:
        raise LlmadError(
            f"host-identifying column(s) {bad} decide the Flow-Bench label and can never be features"
        )


def type_labels(table: pd.DataFrame) -> np.ndarray:
    """0 normal, 1 cpu, 2 hdd for each job, from ``anomaly_type`` (``None`` / ``cpu_K`` / ``hdd_K``)."""
    if "anomaly_type" not in table.columns:
        raise LlmadError("anomaly types need the 'anomaly_type' column (None, cpu_K or hdd_K)")
    at = table["anomaly_type"].astype("string").fillna("None").str.lower()
    kind = at.str.split("_").str[0]
    out = np.full(len(table), -1, dtype=np.int64)
    out[(at == "none").to_numpy()] = 0
    for code, name in enumerate(TYPES[1:], start=1):
        out[(kind == name).to_numpy() & (at != "none").to_numpy()] = code
    if (out < 0).any():
        bad = table["anomaly_type"].iloc[int(np.flatnonzero(out < 0)[0])]
        raise LlmadError(f"unknown anomaly type {bad!r}: expected None, cpu_K or hdd_K")
    return out


def feature_columns(table: pd.DataFrame, which: str = "paper") -> list[str]:
    """Feature columns: ``paper`` (the 9 of the paper), ``context`` (those + the run context of
    :mod:`llmad.context.workflow`) or ``all`` (every numeric non-host column)."""
    if which == "paper":
        cols = list(PAPER_FEATURES)
    elif which == "context":
        from llmad.context.workflow import COLUMNS

        cols = list(PAPER_FEATURES) + list(COLUMNS)
    elif which == "all":
        cols = [
            c for c in table.columns
            if c not in NON_FEATURES and not is_banned(c) and not c.startswith("ctx_")
            and pd.api.types.is_numeric_dtype(table[c])
        ]
    else:
        raise LlmadError(f"unknown feature set {which!r}; choose 'paper', 'context' or 'all'")
    assert_no_banned(cols)
    return cols


@dataclass(frozen=True)
class WorkflowFiles:
    name: str
    zip_path: Path
    dag_path: Path | None


def locate(name: str, root: Path | None = None) -> WorkflowFiles:
    """Find a workflow's zip (and DAG) under the data root; ``sample`` is the packaged sample."""
    if name == SAMPLE:
        base = packaged_dir() / "flowbench"
        return WorkflowFiles(SAMPLE, base / "sample.zip", base / "sample_dag.json")
    if name not in WORKFLOWS:
        raise LlmadError(f"unknown Flow-Bench workflow {name!r}; known: {', '.join(WORKFLOWS)}, {SAMPLE}")
    base = (root or data_dir()) / "flowbench"
    zp = base / f"{name}.zip"
    if not zp.is_file():
        raise LlmadError(
            f"{zp} not found: set LLMAD_DATA_DIR to a folder holding flowbench/{name}.zip "
            f"(or use the packaged 'flowbench/{SAMPLE}')"
        )
    dag = base / "adjacency_list_dags" / f"{name}.json"
    return WorkflowFiles(name, zp, dag if dag.is_file() else None)


def _run_id(member: str) -> str:
    return Path(member).stem


def read_run_csv(source, name: str) -> pd.DataFrame:
    """Read one run's CSV (a path or file object); raise a clear error naming ``name`` on bad input."""
    try:
        df = pd.read_csv(source, dtype={c: "string" for c in _TEXT_COLUMNS}, low_memory=False)
    except pd.errors.EmptyDataError:
        raise LlmadError(f"{name}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise LlmadError(f"{name}: cannot parse CSV: {str(e).splitlines()[0]}") from None
    if df.columns.size and str(df.columns[0]).startswith("Unnamed"):
        df = df.rename(columns={df.columns[0]: "job_id"})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise LlmadError(f"{name}: missing required column(s) {missing}")
    check_numeric(df, PAPER_FEATURES, name)
    return df


def check_numeric(df: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise naming file, line and column for the first non-numeric value in ``columns``."""
    for col in columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s):
            continue
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna() & s.notna() & (s.astype("string").str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            # line 1 is the header
            raise LlmadError(
                f"{name}: line {i + 2}, column {col!r}: value {s.iloc[i]!r} is not a number"
            )
        df[col] = conv.astype("float64")


def load_workflow(
    name: str,
    root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Load every run of a workflow into one job table (see module doc for the columns).

    ``progress(done, total)`` is called after each run file (the CLI passes a rich progress bar).
    """
    files = locate(name, root)
    try:
        zf = zipfile.ZipFile(files.zip_path)
    except zipfile.BadZipFile:
        raise LlmadError(f"{files.zip_path}: not a zip file (expected one CSV per run)") from None
    with zf:
        members = sorted(m for m in zf.namelist() if m.endswith(".csv"))
        if not members:
            raise LlmadError(f"{files.zip_path}: zip holds no CSV files (expected one CSV per run)")
        frames = []
        for i, m in enumerate(members):
            with zf.open(m) as fh:
                df = read_run_csv(fh, f"{files.zip_path.name}:{m}")
            df.insert(1, "run_id", _run_id(m))
            frames.append(df)
            if progress:
                progress(i + 1, len(members))
    table = pd.concat(frames, ignore_index=True)
    table = _finish(table, files.name if name != SAMPLE else "1000genome")
    table.attrs["flowbench"] = {"workflow": name}  # where its DAG comes from (run context)
    return table


def _finish(table: pd.DataFrame, workflow: str) -> pd.DataFrame:
    at = table["anomaly_type"].fillna("None").astype("string")
    table["anomaly_type"] = at.astype("category")
    table["label"] = (at != "None").astype("int8").to_numpy()
    cat = at.where(at != "None").groupby(table["run_id"]).agg(
        lambda s: s.dropna().iloc[0] if s.notna().any() else "normal"
    )
    table["run_category"] = table["run_id"].map(cat).astype("category")
    table.insert(2, "workflow", workflow)
    start_col = "ready" if "ready" in table.columns else None
    if start_col:
        table["run_start"] = table.groupby("run_id")[start_col].transform("min")
    else:
        table["run_start"] = np.nan
    for c in ("type", "kickstart_transformations", "kickstart_hostname", "kickstart_site",
              "kickstart_user", "kickstart_executables", "run_id", "workflow"):
        if c in table.columns:
            table[c] = table[c].astype("category")
    if "kickstart_executables_argv" in table.columns:
        table = table.drop(columns=["kickstart_executables_argv"])
    return table


def load_dag(name: str, root: Path | None = None) -> dict[str, list[str]]:
    """The workflow DAG as job id -> list of child job ids (empty dict if not distributed)."""
    files = locate(name, root)
    if files.dag_path is None or not files.dag_path.is_file():
        return {}
    with open(files.dag_path, encoding="utf-8") as fh:
        return json.load(fh)


def read_records_csv(path: Path) -> pd.DataFrame:
    """Read a user's CSV of job records (Flow-Bench columns) for scoring, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise LlmadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise LlmadError(f"{path}: file is empty")
    try:
        header = pd.read_csv(path, nrows=0).columns
        # pandas reads the text "None" as missing, which would make a run of normal jobs (Flow-Bench writes
        # "None" on each) look like a file without labels: keep anomaly_type as written, every other column
        # with pandas' usual missing values
        na = {c: list(_PANDAS_NA) for c in header if c != "anomaly_type"}
        df = pd.read_csv(path, dtype={c: "string" for c in _TEXT_COLUMNS}, low_memory=False,
                         keep_default_na=False, na_values=na)
    except pd.errors.EmptyDataError:
        raise LlmadError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise LlmadError(f"{path}: cannot parse CSV: {str(e).splitlines()[0]}") from None
    if "anomaly_type" in df.columns:  # an empty cell is still missing; "None" stays the text "None"
        at = df["anomaly_type"].astype("string")
        df["anomaly_type"] = at.mask(at.str.strip() == "")
    if df.columns.size and str(df.columns[0]).startswith("Unnamed"):
        df = df.rename(columns={df.columns[0]: "job_id"})
    if "job_id" not in df.columns:
        df.insert(0, "job_id", [str(i) for i in range(len(df))])
    return df


def read_records_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file of job records (Flow-Bench columns) for scoring, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise LlmadError(f"{path}: no such file")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several kinds for a damaged or non-Parquet file
        raise LlmadError(f"{path}: cannot read Parquet: {str(e).splitlines()[0]}") from None
    for c in _TEXT_COLUMNS:
        if c in df.columns:
            df[c] = df[c].astype("string")
    if "job_id" not in df.columns:
        df.insert(0, "job_id", [str(i) for i in range(len(df))])
    return df
