"""What a trained model has seen: the runs / sessions / log lines of its train and validation parts, saved
beside it (``seen.json``), so that scoring a file can say when that file's records were among them.

Figures computed on records a model was trained on (or whose threshold was chosen on them) say nothing of its
quality, and nothing in a file of Flow-Bench jobs or a raw log shows it. So :func:`record` keeps, at training
time, the keys a new file can be matched on:

- job records: the run ids (a Flow-Bench run's CSV is named after its run: ``1000genome-run0064.csv``), and a
  64-bit key of each job's content (its id and ``ready`` time, kept in ``seen.safetensors``), so a run file
  that was renamed, cut or merged with others is still recognised;
- log windows grouped by session: the session ids (HDFS block ids);
- other log windows: per source file name, the line ranges of the part; only for the packaged log datasets
  (``logs/bgl``, ...), whose file names are their own. A user's file (``logs:<path>``) gets none: its name comes
  back with other lines in it (``syslog`` rotated every day), and a warning on every new day would be false.

:func:`check` matches :func:`llmad.runs.score`'s output against them: by the ``run`` column (the CSV's
``run_id``, else the file's name without its suffix), the ``session`` column, or ``source`` + line range.
Job records are also matched by content (:func:`job_parts`). :func:`llmad.runs.score` marks every row the model
has seen in a ``seen`` column (``train`` / ``valid``, else None; :func:`mark`), and :func:`check` sums them up.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmad import LlmadError

SEEN_FILE = "seen.json"
#: the job keys of each part (``{part}.jobs``: sorted uint64), beside ``seen.json``
KEYS_FILE = "seen.safetensors"
#: the parts a model has seen, in the order a warning names them
SEEN_PARTS = ("train", "valid")


def _intervals(first: np.ndarray, last: np.ndarray) -> list[list[int]]:
    """Merge line ranges into sorted, disjoint ``[first, last]`` intervals."""
    order = np.argsort(first, kind="stable")
    out: list[list[int]] = []
    for a, b in zip(first[order].tolist(), last[order].tolist()):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([int(a), int(b)])
    return out


def job_keys(table: pd.DataFrame) -> np.ndarray | None:
    """A 64-bit key per job record from what a run's CSV says of it whatever the file is called: its id and its
    ``ready`` time (BLAKE2b of both). 0 where the time is missing (never matched); None without either column."""
    if not {"job_id", "ready"} <= set(table.columns):
        return None
    ready = pd.to_numeric(table["ready"], errors="coerce").to_numpy(dtype="float64")
    ids = table["job_id"].astype(str).to_numpy(dtype=object)
    out = np.zeros(len(table), dtype=np.uint64)
    for i in np.flatnonzero(np.isfinite(ready)):
        digest = hashlib.blake2b(f"{ids[i]}\x1f{ready[i]:.3f}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") or 1
    return out


def _part_keys(part: pd.DataFrame, lines_by_name: bool = True) -> dict:
    if "run_id" in part.columns:  # job records
        out: dict[str, Any] = {"runs": sorted(part["run_id"].astype(str).unique().tolist())}
        keys = job_keys(part)
        if keys is not None:
            out["job_keys"] = np.unique(keys[keys != 0])
        return out
    out = {}
    if "session" in part.columns and part["session"].notna().any():
        out["sessions"] = sorted(part["session"].dropna().astype(str).unique().tolist())
    elif lines_by_name and {"source", "first_line", "last_line"} <= set(part.columns):
        lines: dict[str, list] = {}
        for src, g in part.groupby(part["source"].astype(str), sort=True):
            if "|" in src:  # a window over several files has no one line range; its files are named apart
                continue
            lines[src] = _intervals(g["first_line"].to_numpy("int64"), g["last_line"].to_numpy("int64"))
        out["lines"] = lines
    return out


def record(dataset: str, split: str, seed: int, parts: dict[str, pd.DataFrame]) -> dict:
    """The ``seen.json`` document of a model trained on ``parts`` (``train``, ``valid``)."""
    by_name = not str(dataset).startswith("logs:")  # a user's log file: its name is no identity (see above)
    return {"dataset": dataset, "split": split, "seed": seed,
            "parts": {name: _part_keys(parts[name], by_name) for name in SEEN_PARTS if parts.get(name) is not None}}


def save(doc: dict, folder: Path) -> None:
    """``seen.json``, and the job keys (arrays) in ``seen.safetensors``; the JSON says how many each part holds."""
    from safetensors.numpy import save_file

    parts, arrays = {}, {}
    for name, p in (doc.get("parts") or {}).items():
        p = dict(p)
        keys = p.pop("job_keys", None)
        if keys is not None:
            arrays[f"{name}.jobs"] = np.ascontiguousarray(keys, dtype=np.uint64)
            p["jobs"] = int(len(keys))
        parts[name] = p
    (Path(folder) / SEEN_FILE).write_text(json.dumps({**doc, "parts": parts}))
    if arrays:
        save_file(arrays, str(Path(folder) / KEYS_FILE))


def load(folder: Path) -> dict | None:
    path = Path(folder) / SEEN_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise LlmadError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("parts"), dict):
        raise LlmadError(f"{path}: not a record of what the model has seen (no 'parts')")
    keys_path = Path(folder) / KEYS_FILE
    if keys_path.is_file():
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(keys_path))
        except Exception as e:  # a damaged or foreign file: say which
            raise LlmadError(f"{keys_path}: not readable as the model's job keys ({e})") from None
        for name, p in doc["parts"].items():
            keys = arrays.get(f"{name}.jobs")
            if keys is not None and isinstance(p, dict):
                p["job_keys"] = keys.astype(np.uint64, copy=False)
    return doc


def of(det) -> list[dict]:
    """What ``det`` has seen: its own record, or its members' (an ensemble)."""
    members = getattr(det, "members_", None)
    if members:
        return [d for m in members for d in of(m)]
    doc = getattr(det, "seen_", None)
    return [doc] if doc else []


def _in_lines(scored: pd.DataFrame, lines: dict[str, list]) -> np.ndarray:
    """Rows whose ``source`` (any file of a ``a|b`` window) and line range touch a kept range of that file."""
    hit = np.zeros(len(scored), dtype=bool)
    if not lines or not {"source", "first_line", "last_line"} <= set(scored.columns):
        return hit
    src = scored["source"].astype(str)
    first = scored["first_line"].to_numpy("int64")
    last = scored["last_line"].to_numpy("int64")
    for value, rows in src.groupby(src, sort=False).indices.items():  # one pass per distinct source
        for name in value.split("|"):
            iv = lines.get(Path(name).name)
            if not iv:
                continue
            starts = np.fromiter((a for a, _ in iv), dtype=np.int64, count=len(iv))
            ends = np.fromiter((b for _, b in iv), dtype=np.int64, count=len(iv))
            k = np.searchsorted(starts, last[rows], side="right") - 1  # the last range starting at or before
            hit[rows] |= (k >= 0) & (ends[np.maximum(k, 0)] >= first[rows])
    return hit


def job_parts(det, table: pd.DataFrame) -> np.ndarray | None:
    """Per job record of ``table``, the part of the model's (``train`` / ``valid``) that held a job with the same
    key (:func:`job_keys`), else None; None overall when no row matches or the model keeps no job keys."""
    kept_by_part = {part: [k for doc in of(det) if (k := ((doc.get("parts") or {}).get(part) or {}).get("job_keys"))
                           is not None and len(k)] for part in SEEN_PARTS}
    if not any(kept_by_part.values()):
        return None
    keys = job_keys(table)
    if keys is None or not keys.any():
        return None
    out = np.full(len(table), None, dtype=object)
    for part in SEEN_PARTS:
        for kept in kept_by_part[part]:
            hit = (keys != 0) & np.isin(keys, kept) & pd.isna(out)
            out[hit] = part
    return out if pd.notna(out).any() else None


def _key_column(scored: pd.DataFrame) -> str | None:
    if "run" in scored.columns:
        return "run"
    if "session" in scored.columns and scored["session"].notna().any():
        return "session"
    return None


def rows(det, scored: pd.DataFrame) -> np.ndarray | None:
    """Per row of ``scored`` (:func:`llmad.runs.score`'s output), the model's part that held it (``train`` /
    ``valid``, training first) or None: by run name, session id or line range, and by the ``seen`` column the
    content match filled (:func:`job_parts`). None overall when no row was seen or the model keeps no record."""
    docs = of(det)
    if not docs or not len(scored):
        return None
    out = np.full(len(scored), None, dtype=object)
    key_col = _key_column(scored)
    keys = scored[key_col].astype("string").to_numpy(dtype=object, na_value=None) if key_col else None
    for part in SEEN_PARTS:
        hit = np.zeros(len(scored), dtype=bool)
        for doc in docs:
            p = (doc.get("parts") or {}).get(part) or {}
            ids = p.get("runs") if key_col == "run" else p.get("sessions") if key_col == "session" else None
            if ids and keys is not None:
                hit |= pd.Series(keys).isin(set(ids)).to_numpy()
            if p.get("lines"):
                hit |= _in_lines(scored, p["lines"])
        if "seen" in scored.columns:  # job records matched by content (job_parts), whatever their file's name
            hit |= (scored["seen"].astype(object) == part).to_numpy(dtype=bool)
        out[hit & pd.isna(out)] = part
    return out if pd.notna(out).any() else None


def mark(det, scored: pd.DataFrame) -> None:
    """Add (or refresh) the ``seen`` column of ``scored``: each row's part from :func:`rows`, None where the model
    has not seen it; no column when it has seen none of them."""
    parts = rows(det, scored)
    if parts is not None:
        scored["seen"] = pd.Series(parts, index=scored.index, dtype=object)
    elif "seen" in scored.columns:
        scored.drop(columns="seen", inplace=True)


def check(det, scored: pd.DataFrame) -> dict | None:
    """Which rows of ``scored`` (:func:`llmad.runs.score`'s output) the model has seen, by part: ``{part: {"rows":
    n, "keys": n, "examples": [up to 3 run / session ids or sources]}}``, with ``"what"`` (runs, sessions or
    windows) and ``"of"`` (how many rows / keys the input holds); None when none of it was seen or the model
    keeps no record (saved before models kept one).

    Rows :func:`mark` has marked (a ``seen`` column: ``runs.score``'s output and what is built from it) are
    summed up as marked; others are matched here (:func:`rows`)."""
    if "seen" in scored.columns:
        parts = scored["seen"].astype(object).where(scored["seen"].notna(), None).to_numpy(dtype=object)
        if not pd.notna(parts).any():
            return None
    else:
        parts = rows(det, scored)
    if parts is None or not len(scored):
        return None
    out: dict[str, Any] = {}
    key_col = _key_column(scored)
    keys = scored[key_col].astype("string").to_numpy(dtype=object, na_value=None) if key_col else None
    for part in SEEN_PARTS:
        hit = parts == part
        if hit.any():
            if keys is not None:
                names = pd.unique(pd.Series(keys[hit]).dropna()).tolist()
            else:
                names = pd.unique(scored.loc[hit, "source"].astype(str)).tolist()
            out[part] = {"rows": int(hit.sum()), "keys": len(names), "examples": [str(n) for n in names[:3]]}
    what = {"run": "runs", "session": "sessions"}.get(key_col or "", "windows")
    n_keys = int(pd.Series(keys).nunique()) if keys is not None else None
    return {"what": what, "of": {"rows": int(len(scored)), "keys": n_keys}, **out}


def warning(seen: dict, rows: str = "records") -> str:
    """One sentence for a user: how much of the input the model has seen, and why that matters."""
    bits = []
    for part in SEEN_PARTS:
        s = seen.get(part)
        if not s:
            continue
        where = "training part" if part == "train" else "validation part (its threshold was chosen on them)"
        total = seen["of"]["keys"]
        if seen["what"] in ("runs", "sessions") and total:
            ex = ", ".join(s["examples"]) + (", ..." if s["keys"] > len(s["examples"]) else "")
            what = seen["what"] if total > 1 else seen["what"][:-1]
            bits.append(f"{s['keys']} of {total} {what} ({s['rows']} {rows}: {ex}) {'was' if s['keys'] == 1 else 'were'} "
                        f"in the model's {where}")
        else:
            bits.append(f"{s['rows']} of {seen['of']['rows']} {rows} (in {', '.join(s['examples'])}) were in the "
                        f"model's {where}")
    return ("; ".join(bits) + ". Scores and metrics on them do not measure the model's quality: score data it has "
            "not seen (its test part).")
