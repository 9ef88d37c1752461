"""Job-record serialisers.

``paper`` is byte-exact to Jin et al. (SC'24): ``"<column> is <value> "`` for the 9 paper columns,
the value printed as pandas prints a float (``6.0``, ``1014254291.0``, ``771.8``), ``nan`` if missing.

``readable`` is ours: readable names with units and compact numbers (fewer tokens for the model).
``readable-peers`` adds peer context: the job's runtime relative to the median of jobs of the same
transformation in the same run (computed within the table being serialised; no labels involved).

``context`` is *fitted* like ``deciles`` and reads the run context of :mod:`llmad.context.workflow`
(``ctx_*`` columns: peer ratios, the other jobs on the same worker in the same run): decile codes of the 9
paper features and 8 context fields, then the transformation. ``context-percentiles`` writes the same fields
as percentile codes (0-99): each is still one MiniLM token, and it keeps what deciles round away.
``context-digits`` writes those percentile codes as their two digits (``37`` -> ``3 7``, ``5`` -> ``0 5``): the tens
digit is the decile, one of ten tokens seen ten times as often as a code, so the order of the codes is in the
text at two scales instead of being left for the model to learn from a hundred separate tokens.
``context-percentiles-global`` writes percentile codes whose edges come from every training job at once instead of
from the jobs of the same transformation: a code then says how large a value is among all jobs, and the
transformation that follows says which job it is. On workflows with few jobs per transformation, per-transformation
edges fall on a few tied values, and the global ones keep more apart.

``deciles`` is *fitted*: its bin edges are learnt from the training records only (see
:func:`fit_template`) and travel with the model as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.data.flowbench import PAPER_FEATURES, assert_no_banned

Template = Callable[[pd.DataFrame], list[str]]
TEMPLATES: dict[str, Template] = {}


def register(name: str):
    def deco(fn: Template) -> Template:
        TEMPLATES[name] = fn
        return fn
    return deco


@dataclass(frozen=True)
class FittedTemplate:
    """A template with state learnt from training records: ``fit(table) -> JSON dict``, ``render(table, state)``."""

    fit: Callable[[pd.DataFrame], dict]
    render: Callable[[pd.DataFrame, dict], list[str]]


FITTED: dict[str, FittedTemplate] = {}


def names() -> list[str]:
    return sorted([*TEMPLATES, *FITTED])


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        if name in FITTED:
            raise LlmadError(f"template {name!r} is fitted on training records: use fit_template first") from None
        raise LlmadError(f"unknown template {name!r}; known: {', '.join(names())}") from None


def needs_fit(name: str) -> bool:
    if name not in TEMPLATES and name not in FITTED:
        raise LlmadError(f"unknown template {name!r}; known: {', '.join(names())}")
    return name in FITTED


def fit_template(name: str, train: pd.DataFrame) -> dict | None:
    """The state of a fitted template learnt from ``train`` (None for a stateless template)."""
    if not needs_fit(name):
        return None
    if len(train) == 0:
        raise LlmadError(f"template {name!r} cannot be fitted on zero records")
    return FITTED[name].fit(train)


def render(table: pd.DataFrame, template: str = "paper", state: dict | None = None) -> list[str]:
    """Serialise every row of ``table`` with the named template (``state`` from :func:`fit_template`)."""
    if needs_fit(template):
        if state is None:
            raise LlmadError(f"template {template!r} needs the state fitted on training records")
        return FITTED[template].render(table, state)
    return get_template(template)(table)


def _float_str(v) -> str:
    # pandas prints a float64 cell with Python's repr: 6.0, 1014254291.0, 771.8, nan
    f = float(v)
    return "nan" if math.isnan(f) else repr(f)


def _columns(table: pd.DataFrame, cols) -> list[np.ndarray]:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise LlmadError(f"records lack column(s) {missing} needed by the template")
    assert_no_banned(cols)
    return [pd.to_numeric(table[c], errors="coerce").to_numpy(dtype="float64") for c in cols]


@register("paper")
def paper(table: pd.DataFrame) -> list[str]:
    cols = _columns(table, PAPER_FEATURES)
    names = PAPER_FEATURES
    return ["".join(f"{n} is {_float_str(v)} " for n, v in zip(names, row)) for row in zip(*cols)]


_READABLE = (
    ("wms_delay", "wms delay", "s"),
    ("queue_delay", "queue delay", "s"),
    ("runtime", "runtime", "s"),
    ("post_script_delay", "post-script delay", "s"),
    ("stage_in_delay", "stage-in delay", "s"),
    ("stage_out_delay", "stage-out delay", "s"),
    ("stage_in_bytes", "stage-in", "B"),
    ("stage_out_bytes", "stage-out", "B"),
    ("kickstart_executables_cpu_time", "cpu time", "s"),
)


def _compact(v: float, unit: str) -> str:
    if math.isnan(v):
        return "n/a"
    if unit == "B":
        for div, suffix in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(v) >= div:
                return f"{v / div:.3g}{suffix}"
        return f"{v:.0f}B"
    return f"{v:.3g}{unit}"


@register("readable")
def readable(table: pd.DataFrame) -> list[str]:
    cols = _columns(table, [c for c, _, _ in _READABLE])
    out = []
    for row in zip(*cols):
        out.append(", ".join(f"{label} {_compact(v, unit)}" for (_, label, unit), v in zip(_READABLE, row)))
    return out


def peer_ratio(table: pd.DataFrame, column: str = "runtime") -> np.ndarray:
    """``column`` divided by the median of jobs of the same transformation in the same run."""
    key = [table["run_id"].astype(str)] if "run_id" in table.columns else []
    if "kickstart_transformations" in table.columns:
        key.append(table["kickstart_transformations"].astype(str).fillna(""))
    elif "type" in table.columns:
        key.append(table["type"].astype(str))
    vals = pd.to_numeric(table[column], errors="coerce")
    if not key:
        med = vals.median()
        return (vals / med).to_numpy(dtype="float64") if med else np.full(len(table), np.nan)
    med = vals.groupby(key, observed=True).transform("median")
    with np.errstate(divide="ignore", invalid="ignore"):
        return (vals / med.replace(0, np.nan)).to_numpy(dtype="float64")


@register("readable-peers")
def readable_peers(table: pd.DataFrame) -> list[str]:
    base = readable(table)
    rt = peer_ratio(table, "runtime")
    cpu = peer_ratio(table, "kickstart_executables_cpu_time") if "kickstart_executables_cpu_time" in table else rt
    tr = (table["kickstart_transformations"].astype(str).tolist()
          if "kickstart_transformations" in table.columns else [""] * len(table))
    out = []
    for text, t, r, c in zip(base, tr, rt, cpu):
        rs = "n/a" if math.isnan(r) else f"{r:.2f}x"
        cs = "n/a" if math.isnan(c) else f"{c:.2f}x"
        name = t.split("::")[-1] if t and t != "<NA>" else "job"
        out.append(f"{name}: {text}; runtime vs peers {rs}, cpu vs peers {cs}")
    return out


_COMPACT = (
    ("wms_delay", "wms", "s"),
    ("queue_delay", "queue", "s"),
    ("runtime", "run", "s"),
    ("post_script_delay", "post", "s"),
    ("stage_in_delay", "in", "s"),
    ("stage_out_delay", "out", "s"),
    ("stage_in_bytes", "read", "B"),
    ("stage_out_bytes", "wrote", "B"),
    ("kickstart_executables_cpu_time", "cpu", "s"),
)


def _short(v: float, unit: str) -> str:
    """Few-token numbers: whole seconds (3 significant digits), bytes as ``388k`` / ``1.0g``, ``-`` if missing."""
    if math.isnan(v):
        return "-"
    if unit == "B":
        for div, suffix in ((1e12, "t"), (1e9, "g"), (1e6, "m"), (1e3, "k")):
            if abs(v) >= div:
                m = v / div
                return f"{m:.1f}{suffix}" if abs(m) < 10 else f"{round(m):d}{suffix}"
        return f"{round(v):d}"
    r = round(v)
    if abs(r) >= 1000:
        digits = len(str(abs(r))) - 3
        r = int(round(r, -digits))
    return str(r)


def _percent(r: float) -> str:
    return "-" if math.isnan(r) else str(int(round(min(r, 99.99) * 100)))


@register("compact")
def compact(table: pd.DataFrame) -> list[str]:
    """Fewest tokens (~33 MiniLM tokens against ~92 for ``paper``), peer context included.

    ``individuals wms 5 queue 22 run 1020 post 5 in 67 out 4 read 1.0g wrote 388k cpu 936 peers 94 102``:
    the transformation, the 9 paper features in whole seconds and short byte counts, then the runtime
    and CPU time as a percentage of the median of the same transformation in the same run.
    """
    cols = _columns(table, [c for c, _, _ in _COMPACT])
    rt = peer_ratio(table, "runtime")
    cpu = peer_ratio(table, "kickstart_executables_cpu_time")
    tr = _transformations(table)
    out = []
    for i, row in enumerate(zip(*cols)):
        name = tr[i]
        body = " ".join(f"{label} {_short(v, unit)}" for (_, label, unit), v in zip(_COMPACT, row))
        out.append(f"{name} {body} peers {_percent(rt[i])} {_percent(cpu[i])}")
    return out


def _transformations(table: pd.DataFrame) -> list[str]:
    """Short transformation name of each job (``pegasus::dirmanager`` -> ``dirmanager``), ``job`` if unknown."""
    if "kickstart_transformations" not in table.columns:
        return ["job"] * len(table)
    out = []
    for t in table["kickstart_transformations"].astype(str).tolist():
        out.append(t.split("::")[-1].split(":")[0] if t and t not in ("<NA>", "nan") else "job")
    return out


# ------------------------------------------------------------------ deciles (fitted)
_DECILE_FIELDS = PAPER_FEATURES + ("peer_runtime", "peer_cpu")
_DECILES = 10


def _decile_matrix(table: pd.DataFrame) -> np.ndarray:
    cols = _columns(table, PAPER_FEATURES)
    rt = peer_ratio(table, "runtime")
    cpu = peer_ratio(table, "kickstart_executables_cpu_time")
    return np.column_stack(cols + [rt, cpu]) if len(table) else np.zeros((0, len(_DECILE_FIELDS)))


def _edges(values: np.ndarray, bins: int = _DECILES) -> list[float]:
    v = values[np.isfinite(values)]
    if not len(v):
        return []
    return [float(e) for e in np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]))]


def _fit_codes(x: np.ndarray, train: pd.DataFrame, fields: tuple[str, ...], bins: int = _DECILES,
               per_transformation: bool = True) -> dict:
    """Per transformation (and globally, for transformations unseen in ``train``), the ``bins``-quantile edges
    of each column of ``x``; a value's code is the number of edges at or below it (0 .. bins - 1; tied
    edges merge, so a column with few distinct values uses fewer codes). The key ``deciles`` holds ``bins``.
    With ``per_transformation=False`` every job is coded with the global edges."""
    tr = np.asarray(_transformations(train), dtype=object)
    per = {}
    for name in sorted(set(tr)) if per_transformation else ():
        m = tr == name
        per[name] = [_edges(x[m, j], bins) for j in range(x.shape[1])]
    return {"fields": list(fields), "deciles": bins, "n_fit": int(len(train)),
            "global": [_edges(x[:, j], bins) for j in range(x.shape[1])], "by_transformation": per}


def _code(c: int) -> str:
    return "-" if c < 0 else str(c)


def _two_digits(c: int) -> str:
    return "- -" if c < 0 else f"{c // 10} {c % 10}"


def _render_codes(x: np.ndarray, table: pd.DataFrame, state: dict, fields: tuple[str, ...], name: str,
                  bins: int = _DECILES, write: Callable[[int], str] = _code) -> list[str]:
    if state.get("fields") != list(fields):
        raise LlmadError(f"{name} template state does not match this version's fields")
    if state.get("deciles") != bins:
        raise LlmadError(f"{name} template state has {state.get('deciles')} bins, not {bins}")
    tr = _transformations(table)
    codes = np.full(x.shape, -1, dtype=np.int64)
    per = state["by_transformation"]
    for t in set(tr):
        rows = np.flatnonzero(np.asarray(tr, dtype=object) == t)
        edges = per.get(t, state["global"])
        for j, e in enumerate(edges):
            v = x[rows, j]
            b = np.searchsorted(np.asarray(e, dtype=np.float64), v, side="right")
            codes[rows, j] = np.where(np.isfinite(v), b, -1)
    return [" ".join(write(c) for c in row) + f" {t}" for row, t in zip(codes.tolist(), tr)]


def _fit_deciles(train: pd.DataFrame) -> dict:
    return _fit_codes(_decile_matrix(train), train, _DECILE_FIELDS)


def _render_deciles(table: pd.DataFrame, state: dict) -> list[str]:
    return _render_codes(_decile_matrix(table), table, state, _DECILE_FIELDS, "deciles")


FITTED["deciles"] = FittedTemplate(_fit_deciles, _render_deciles)

# ------------------------------------------------------------------ context (fitted, reads run context)
# the 9 paper features, then what the job's run says: its peer ratios and those of the other jobs on its worker
CONTEXT_FIELDS = PAPER_FEATURES + (
    "ctx_peer_runtime", "ctx_peer_kickstart_executables_cpu_time", "ctx_peer_stage_in_delay",
    "ctx_coloc_runtime", "ctx_coloc_kickstart_executables_cpu_time", "ctx_coloc_stage_in_delay",
    "ctx_coloc_wms_delay", "ctx_overlap_runtime")
CONTEXT_TEMPLATES = ("context", "context-percentiles", "context-digits", "context-percentiles-global")
_PERCENTILES = 100


def _context_matrix(table: pd.DataFrame) -> np.ndarray:
    missing = [c for c in CONTEXT_FIELDS if c not in table.columns]
    if missing:
        raise LlmadError(f"templates {', '.join(map(repr, CONTEXT_TEMPLATES))} read run context "
                         "(ctx_* columns): "
                         "add it with llmad.context.add_context, or let a detector do it")
    if not len(table):
        return np.zeros((0, len(CONTEXT_FIELDS)))
    return np.column_stack(_columns(table, CONTEXT_FIELDS))


def _fit_context(train: pd.DataFrame) -> dict:
    return _fit_codes(_context_matrix(train), train, CONTEXT_FIELDS)


def _render_context(table: pd.DataFrame, state: dict) -> list[str]:
    return _render_codes(_context_matrix(table), table, state, CONTEXT_FIELDS, "context")


def _fit_context_percentiles(train: pd.DataFrame) -> dict:
    return _fit_codes(_context_matrix(train), train, CONTEXT_FIELDS, _PERCENTILES)


def _render_context_percentiles(table: pd.DataFrame, state: dict) -> list[str]:
    return _render_codes(_context_matrix(table), table, state, CONTEXT_FIELDS, "context-percentiles", _PERCENTILES)


def _render_context_digits(table: pd.DataFrame, state: dict) -> list[str]:
    return _render_codes(_context_matrix(table), table, state, CONTEXT_FIELDS, "context-digits", _PERCENTILES,
                         _two_digits)


FITTED["context"] = FittedTemplate(_fit_context, _render_context)
FITTED["context-percentiles"] = FittedTemplate(_fit_context_percentiles, _render_context_percentiles)
FITTED["context-digits"] = FittedTemplate(_fit_context_percentiles, _render_context_digits)


def _fit_context_global(train: pd.DataFrame) -> dict:
    return _fit_codes(_context_matrix(train), train, CONTEXT_FIELDS, _PERCENTILES, per_transformation=False)


def _render_context_global(table: pd.DataFrame, state: dict) -> list[str]:
    if state.get("by_transformation"):
        raise LlmadError("context-percentiles-global template state holds per-transformation edges")
    return _render_codes(_context_matrix(table), table, state, CONTEXT_FIELDS, "context-percentiles-global",
                         _PERCENTILES)


FITTED["context-percentiles-global"] = FittedTemplate(_fit_context_global, _render_context_global)


def fit_context_codes(train: pd.DataFrame) -> dict:
    """Decile edges of :data:`CONTEXT_FIELDS` per transformation, from ``train`` (which has ``ctx_*`` columns
    when ``context`` is set; without them only the 9 paper features are fitted)."""
    fields = CONTEXT_FIELDS if all(c in train.columns for c in CONTEXT_FIELDS) else PAPER_FEATURES
    return _fit_codes(np.column_stack(_columns(train, fields)) if len(train) else np.zeros((0, len(fields))),
                      train, fields)


def context_positions(table: pd.DataFrame, state: dict) -> tuple[np.ndarray, list[str]]:
    """Where each value of the fields :func:`fit_context_codes` fitted falls among the training values of its
    transformation: 0 (below every decile edge) to 1 (above every one), NaN when missing. A value equal to an
    edge sits in the middle of its ties, so a feature that is constant in training reads 0.5 at that value
    (decile codes alone would call it high)."""
    fields = tuple(state.get("fields", ()))
    missing = [c for c in fields if c not in table.columns]
    if missing:
        raise LlmadError(f"these levels read the columns {missing}: add the run context as at fitting")
    if "by_transformation" not in state:
        raise LlmadError("level state lacks its decile edges: train the model again")
    x = np.column_stack(_columns(table, fields)) if len(table) else np.zeros((0, len(fields)))
    tr = _transformations(table)
    pos = np.full(x.shape, np.nan)
    for t in set(tr):
        rows = np.flatnonzero(np.asarray(tr, dtype=object) == t)
        for j, e in enumerate(state["by_transformation"].get(t, state["global"])):
            v, e = x[rows, j], np.asarray(e, dtype=np.float64)
            if len(e):
                mid = (np.searchsorted(e, v, side="left") + np.searchsorted(e, v, side="right")) / (2 * len(e))
            else:
                mid = np.full(len(v), 0.5)  # no finite training value: nothing to compare with
            pos[rows, j] = np.where(np.isfinite(v), mid, np.nan)
    return pos, tr
