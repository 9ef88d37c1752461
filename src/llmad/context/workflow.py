"""Run context of each job: what its peers, its worker and its DAG say, computed within one run.

The stress that makes a Flow-Bench job anomalous sits on a **worker during one run**, so it shows in the
other jobs that ran on that worker in that run and in how the job compares with its peers. Rules (see
design.md): a host name is only a group key inside one run — never a feature, a token of text or a key
across runs (any consistent renaming of hosts leaves every value here unchanged); no label enters context;
context never crosses runs; values do not depend on row order.

Columns (all prefixed ``ctx_``):

- ``ctx_peer_<timing>`` for the 7 timings of :data:`PEER_TIMINGS`: the job's value over the median of jobs
  of the same transformation in the same run;
- ``ctx_coloc_<timing>``: the mean of those ratios over the *other* jobs on the same worker in the same run
  (leave-one-out); ``ctx_coloc_n``: how many such jobs;
- ``ctx_overlap_<timing>`` (runtime, CPU time, stage-in and stage-out delays) and ``ctx_overlap_n``: the same
  mean over only the other jobs of that worker whose execution overlapped this job's in time (a stress slows
  what runs beside it);
- ``ctx_dag_parents`` / ``ctx_dag_children``: the job's in / out degree in the workflow DAG;
  ``ctx_dag_parent_runtime``: the mean runtime peer ratio of its parents; ``ctx_dag_wait``: seconds between
  the last parent's end and this job's submission;

Two modes. ``batch``: the whole run is known (post-mortem analysis). ``online``: for each job only jobs that
finished strictly before it finished (and the job itself) count — what a live monitor knows when the job
ends. A job's end is its ``post_script_end`` (else ``stage_out_end``, ``execute_end``).
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

from llmad import LlmadError

MODES = ("batch", "online")
PEER_TIMINGS = ("wms_delay", "queue_delay", "runtime", "post_script_delay", "stage_in_delay", "stage_out_delay",
                "kickstart_executables_cpu_time")
HOST = "kickstart_hostname"
END_COLUMNS = ("post_script_end", "stage_out_end", "execute_end")
OVERLAP_TIMINGS = ("runtime", "kickstart_executables_cpu_time", "stage_in_delay", "stage_out_delay")
COLUMNS = tuple([f"ctx_peer_{c}" for c in PEER_TIMINGS] + ["ctx_peer_n"] + [f"ctx_coloc_{c}" for c in PEER_TIMINGS]
                + ["ctx_coloc_n"] + [f"ctx_overlap_{c}" for c in OVERLAP_TIMINGS]
                + ["ctx_overlap_n", "ctx_dag_parents", "ctx_dag_children", "ctx_dag_parent_runtime", "ctx_dag_wait"])


def _end_time(t: pd.DataFrame) -> np.ndarray:
    end = np.full(len(t), np.nan)
    for c in END_COLUMNS:
        if c in t.columns:
            v = pd.to_numeric(t[c], errors="coerce").to_numpy(dtype="float64")
            end = np.where(np.isnan(end), v, end)
    return end


def _keys(t: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer codes of run, (run, transformation) and (run, host); -1 where the host is unknown."""
    run = t["run_id"].astype(str).to_numpy() if "run_id" in t.columns else np.zeros(len(t), dtype=object)
    tr_col = "kickstart_transformations" if "kickstart_transformations" in t.columns else "type"
    tr = t[tr_col].astype(str).to_numpy() if tr_col in t.columns else np.full(len(t), "", dtype=object)
    run_code = pd.factorize(run, sort=True)[0]
    peer = pd.factorize(pd.Series(run.astype(str)) + "\x00" + pd.Series(tr.astype(str)), sort=True)[0]
    if HOST in t.columns:
        host = t[HOST]
        known = host.notna().to_numpy() & (host.astype(str).str.strip() != "").to_numpy()
        worker = pd.factorize(pd.Series(run.astype(str)) + "\x00" + host.astype(str).reset_index(drop=True),
                              sort=True)[0]
        worker = np.where(known, worker, -1)
    else:
        worker = np.full(len(t), -1)
    return run_code, peer, worker


def _group_first(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For rows sorted by group (``order``): the position of the first row of each row's group."""
    g = group[order]
    firsts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    return np.repeat(firsts, np.diff(np.r_[firsts, len(order)]))


def _earlier_block_start(group: np.ndarray, end: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For rows sorted by (group, end): the position of the first row of each row's (group, end) tie block."""
    g, e = group[order], end[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (g[1:] != g[:-1]) | ~((e[1:] == e[:-1]) | (np.isnan(e[1:]) & np.isnan(e[:-1])))
    return np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))


def _peer_medians(values: np.ndarray, peer: np.ndarray, end: np.ndarray, mode: str) -> np.ndarray:
    """Median of each job's peer group: all of it (batch), or the peers ended strictly before it plus itself."""
    s = pd.Series(values)
    if mode == "batch":
        return s.groupby(peer).transform("median").to_numpy()
    out = np.full(len(values), np.nan)
    key = np.where(np.isnan(end), np.inf, end)  # a job with no end time is known only at the end of its run
    order = np.lexsort((key, peer))
    g, k, v = peer[order], key[order], values[order]
    i = 0
    while i < len(order):
        seen: list[float] = []  # sorted values of the peers ended so far
        grp = g[i]
        while i < len(order) and g[i] == grp:
            j = i
            while j < len(order) and g[j] == grp and k[j] == k[i]:
                j += 1
            for t in range(i, j):  # each job of a tie block: the peers ended strictly before, and itself
                x = v[t]
                out[order[t]] = _median_with(seen, x) if not np.isnan(x) else (_median(seen) if seen else np.nan)
            for t in range(i, j):
                if not np.isnan(v[t]):
                    bisect.insort(seen, float(v[t]))
            i = j
    return out


def _peer_counts(peer: np.ndarray, end: np.ndarray, mode: str) -> np.ndarray:
    """How many jobs each peer median is over: the whole group (batch), or the peers ended strictly before
    the job plus the job itself (online) — a ratio to a median of one job is 1 and says nothing."""
    if mode == "batch":
        return np.bincount(peer)[peer].astype(float)
    key = np.where(np.isnan(end), np.inf, end)
    order = np.lexsort((key, peer))
    out = np.empty(len(peer))
    out[order] = _earlier_block_start(peer, key, order) - _group_first(peer, order) + 1
    return out


def _median(sorted_values: list[float]) -> float:
    m = len(sorted_values)
    return sorted_values[m // 2] if m % 2 else 0.5 * (sorted_values[m // 2 - 1] + sorted_values[m // 2])


def _median_with(sorted_values: list[float], x: float) -> float:
    """Median of ``sorted_values`` with ``x`` added, without copying the list."""
    p = bisect.bisect_left(sorted_values, x)
    m = len(sorted_values) + 1

    def at(q: int) -> float:
        return sorted_values[q] if q < p else (x if q == p else sorted_values[q - 1])
    return at(m // 2) if m % 2 else 0.5 * (at(m // 2 - 1) + at(m // 2))


def _coloc_means(ratios: np.ndarray, worker: np.ndarray, end: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each column over the other jobs of the same worker and run (ended strictly before, online)."""
    n_rows, n_cols = ratios.shape
    means = np.full((n_rows, n_cols), np.nan)
    counts = np.zeros(n_rows)
    has = worker >= 0
    if not has.any():
        return means, counts
    finite = np.isfinite(ratios)
    vals = np.where(finite, ratios, 0.0)
    if mode == "batch":
        w = worker[has]
        sums = np.zeros((w.max() + 1, n_cols))
        cnts = np.zeros((w.max() + 1, n_cols))
        jobs = np.bincount(w, minlength=w.max() + 1).astype(float)
        np.add.at(sums, w, vals[has])
        np.add.at(cnts, w, finite[has].astype(float))
        other_s = sums[w] - vals[has]
        other_c = cnts[w] - finite[has]
        with np.errstate(invalid="ignore", divide="ignore"):
            means[has] = np.where(other_c > 0, other_s / np.maximum(other_c, 1), np.nan)
        counts[has] = jobs[w] - 1
        return means, counts
    key = np.where(np.isnan(end), np.inf, end)
    idx = np.flatnonzero(has)
    order = idx[np.lexsort((key[idx], worker[idx]))]
    start = _earlier_block_start(worker, key, order)
    g = worker[order]
    # running sums that restart at each worker: a job's values never depend, not even in the last bit, on
    # which other runs or workers the table holds (one running sum over the whole table, minus its value at
    # the worker's start, did: LightGBM can turn such a 1e-13 difference into another tree)
    cs = pd.DataFrame(vals[order]).groupby(g).cumsum().to_numpy()
    cc = pd.DataFrame(finite[order].astype(float)).groupby(g).cumsum().to_numpy()
    first_of = _group_first(worker, order)

    def before(c):  # sums over rows [worker start, tie-block start) = strictly earlier rows of the same worker
        return np.where((start > first_of)[:, None], c[np.maximum(start - 1, 0)], 0.0)
    s, c = before(cs), before(cc)
    with np.errstate(invalid="ignore", divide="ignore"):
        means[order] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    counts[order] = start - first_of
    return means, counts


def _overlap_means(t: pd.DataFrame, ratios: np.ndarray, worker: np.ndarray, end: np.ndarray,
                   mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each column over the other jobs of the same worker and run whose execution overlapped this
    job's ([execute_start, execute_end]); online: only those that also ended strictly before this job."""
    n, k = ratios.shape
    means, counts = np.full((n, k), np.nan), np.zeros(n)
    if "execute_start" not in t.columns or "execute_end" not in t.columns:
        return means, counts
    a = pd.to_numeric(t["execute_start"], errors="coerce").to_numpy(dtype="float64")
    b = pd.to_numeric(t["execute_end"], errors="coerce").to_numpy(dtype="float64")
    key = np.where(np.isnan(end), np.inf, end)
    order = np.argsort(worker, kind="stable")
    w = worker[order]
    cuts = np.r_[0, np.flatnonzero(w[1:] != w[:-1]) + 1, len(order)]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        if w[lo] < 0:
            continue
        rows = order[lo:hi]
        ov = (a[rows][:, None] <= b[rows][None, :]) & (a[rows][None, :] <= b[rows][:, None])
        np.fill_diagonal(ov, False)
        if mode == "online":
            ov &= key[rows][None, :] < key[rows][:, None]
        vals = ratios[rows]
        fin = np.isfinite(vals)
        s = ov.astype(float) @ np.where(fin, vals, 0.0)
        c = ov.astype(float) @ fin.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[rows] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
        counts[rows] = ov.sum(axis=1)
    return means, counts


def _dag(t: pd.DataFrame, dag: dict[str, list[str]] | None, runtime_ratio: np.ndarray, end: np.ndarray) -> dict:
    n = len(t)
    out = {k: np.full(n, np.nan) for k in ("ctx_dag_parents", "ctx_dag_children", "ctx_dag_parent_runtime",
                                            "ctx_dag_wait")}
    if not dag or "job_id" not in t.columns:
        return out
    ids = t["job_id"].astype(str).to_numpy()
    run = t["run_id"].astype(str).to_numpy() if "run_id" in t.columns else np.zeros(n, dtype=object).astype(str)
    parents: dict[str, list[str]] = {}
    for p, children in dag.items():
        for c in children:
            parents.setdefault(str(c), []).append(str(p))
    where = {(r, j): i for i, (r, j) in enumerate(zip(run, ids))}
    submit = pd.to_numeric(t["submit"], errors="coerce").to_numpy(dtype="float64") if "submit" in t.columns else \
        np.full(n, np.nan)
    for i, (r, j) in enumerate(zip(run, ids)):
        ps = [where[(r, p)] for p in parents.get(j, ()) if (r, p) in where]  # parents in the same run only
        out["ctx_dag_parents"][i] = len(parents.get(j, ()))
        out["ctx_dag_children"][i] = len(dag.get(j, ()))
        if ps:
            rr = runtime_ratio[ps]
            rr = rr[np.isfinite(rr)]
            out["ctx_dag_parent_runtime"][i] = rr.mean() if len(rr) else np.nan
            pe = end[ps]
            if np.isfinite(pe).any() and np.isfinite(submit[i]):
                out["ctx_dag_wait"][i] = submit[i] - np.nanmax(pe)
    return out


def add_context(table: pd.DataFrame, mode: str = "batch", dag: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """``table`` with the ``ctx_*`` columns added (same rows, same order). Needs ``run_id`` to tell runs apart
    (a table without it is one run); host, transformation, end times and the DAG are used where present."""
    if mode not in MODES:
        raise LlmadError(f"unknown context mode {mode!r}; choose {', '.join(MODES)}")
    missing = [c for c in PEER_TIMINGS if c not in table.columns]
    if missing:
        raise LlmadError(f"records lack column(s) {missing} needed for run context")
    t = table.reset_index(drop=True)
    _, peer, worker = _keys(t)
    end = _end_time(t)
    cols: dict[str, np.ndarray] = {}
    for c in PEER_TIMINGS:
        v = pd.to_numeric(t[c], errors="coerce").to_numpy(dtype="float64")
        med = _peer_medians(v, peer, end, mode)
        with np.errstate(divide="ignore", invalid="ignore"):
            cols[f"ctx_peer_{c}"] = np.where(med > 0, v / np.where(med > 0, med, 1.0), np.where(v == med, 1.0, np.nan))
    cols["ctx_peer_n"] = _peer_counts(peer, end, mode)
    ratios = np.column_stack([cols[f"ctx_peer_{c}"] for c in PEER_TIMINGS])
    means, counts = _coloc_means(ratios, worker, end, mode)
    for k, c in enumerate(PEER_TIMINGS):
        cols[f"ctx_coloc_{c}"] = means[:, k]
    cols["ctx_coloc_n"] = np.where(worker >= 0, counts, np.nan)
    ov = np.column_stack([cols[f"ctx_peer_{c}"] for c in OVERLAP_TIMINGS])
    means, counts = _overlap_means(t, ov, worker, end, mode)
    for k, c in enumerate(OVERLAP_TIMINGS):
        cols[f"ctx_overlap_{c}"] = means[:, k]
    cols["ctx_overlap_n"] = np.where(worker >= 0, counts, np.nan)
    cols.update(_dag(t, dag, cols["ctx_peer_runtime"], end))
    ctx = pd.DataFrame(cols, index=table.index)
    return pd.concat([table.drop(columns=[c for c in COLUMNS if c in table.columns]), ctx], axis=1)


DAG_FILE = "dag.json"


def dag_for(table: pd.DataFrame) -> dict[str, list[str]] | None:
    """The workflow DAG of a Flow-Bench table (the loader records its workflow), or None."""
    name = table.attrs.get("flowbench", {}).get("workflow")
    if not name:
        return None
    from llmad.data.flowbench import load_dag

    return load_dag(name) or None


CONTEXT_ATTR = "llmad_context"  # key of table.attrs: the context stage whose ctx_* columns the table holds


class RunContext:
    """The context stage of a detector: its mode and the workflow DAG it was fitted with (saved beside it)."""

    def __init__(self, mode: str = "batch", dag: dict[str, list[str]] | None = None):
        if mode not in MODES:
            raise LlmadError(f"unknown context mode {mode!r}; choose {', '.join(MODES)}")
        self.mode = mode
        self.dag = dag

    @classmethod
    def fit(cls, train: pd.DataFrame, mode: str) -> RunContext:
        return cls(mode, dag_for(train))

    @property
    def key(self) -> str:
        """What a table's context was computed with (mode and DAG size), kept in ``table.attrs``."""
        return f"{self.mode}:{len(self.dag) if self.dag else 0}"

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with its context, computed within its own runs. A table this stage has already
        contextualised (``attrs[CONTEXT_ATTR]``, kept by row selections such as ``iloc``) is returned as it is:
        that is how a sample of a part keeps the context of the whole part's runs."""
        if table.attrs.get(CONTEXT_ATTR) == self.key and all(c in table.columns for c in COLUMNS):
            return table
        out = add_context(table, self.mode, self.dag)
        out.attrs = {**table.attrs, CONTEXT_ATTR: self.key}
        return out

    def to_dict(self) -> dict:
        return {"mode": self.mode, "dag_jobs": len(self.dag) if self.dag else 0}

    def save(self, folder) -> None:
        if self.dag:
            import json
            from pathlib import Path

            (Path(folder) / DAG_FILE).write_text(json.dumps(self.dag))

    @classmethod
    def load(cls, d: dict, folder) -> RunContext:
        import json
        from pathlib import Path

        dag = None
        if d.get("dag_jobs"):
            f = Path(folder) / DAG_FILE
            if not f.is_file():
                raise LlmadError(f"{folder}: this model reads DAG context but {DAG_FILE} is missing; the model "
                                 "folder is incomplete (copy it whole, or train again)")
            try:
                dag = json.loads(f.read_text())
            except json.JSONDecodeError as e:
                raise LlmadError(f"{f}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
        return cls(d.get("mode", "batch"), dag)
