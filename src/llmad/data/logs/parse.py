"""A raw log file -> Loghub's structured table (``llmad data parse``), so a user can check a format.

:func:`parse_file` reads the file with :class:`~llmad.data.logs.reader.LogReader` (streaming, quarantine),
mines templates from the masked ``<Content>`` of every parsed line with llmad's
:class:`~llmad.data.logs.drain.TemplateModel` (drain3), and returns one row per parsed line:

- ``LineId``: the 1-based line number in the file (lines that did not parse leave gaps, and are in the
  quarantine file);
- every field of the format in order, ``Content`` last (a field of an absent optional part is empty);
- ``EventTemplate``: the final template of the line's cluster (after all lines are mined);
- ``EventId``: ``E`` + the first 8 hex digits of the SHA-1 of the template text: the same template gets
  the same id in every file and run, and lines with the same template text share one id.

A file where more than ``max_unparsed`` (default 2 %) of the non-empty lines do not match the format is
refused (:func:`~llmad.data.logs.reader.check_unparsed`) unless the threshold is raised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from llmad import LlmadError
from llmad.data.logs.drain import TemplateConfig, TemplateModel
from llmad.data.logs.formats import LogFormat, get_format, syntax_hint
from llmad.data.logs.reader import (DEFAULT_MAX_UNPARSED, LogReader, ReaderConfig, check_unparsed,
                                    unparsed_share)

PARSE_HINT = "if that is expected, pass --allow-unparsed (or --max-unparsed SHARE)"


def event_id(template: str) -> str:
    """Stable short id of a template text: ``E`` + 8 hex digits of its SHA-1."""
    return "E" + hashlib.sha1(template.encode("utf-8")).hexdigest()[:8]


def structured_columns(fmt: LogFormat) -> list[str]:
    """The columns :func:`parse_file` writes, in order."""
    return ["LineId", *[f for f in fmt.fields if f != "Content"], "Content", "EventId", "EventTemplate"]


def parse_file(path: str | Path, fmt: str | LogFormat, *, max_unparsed: float | None = DEFAULT_MAX_UNPARSED,
               templates: TemplateConfig | None = None, reader: ReaderConfig | None = None,
               hint: str = PARSE_HINT,
               progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Parse ``path`` with ``fmt`` (a built-in name or a format string) into a structured table.

    Returns ``(table, summary)``: the columns of :func:`structured_columns`, and the read summary
    (:class:`~llmad.data.logs.reader.ReadSummary` as a dict) plus ``format``, ``unparsed_share``,
    ``templates`` and ``max_unparsed``. Raises :class:`LlmadError` when no line matches, or when more than
    ``max_unparsed`` of the non-empty lines do not (``None`` or 1 accepts any share).
    """
    fmt = fmt if isinstance(fmt, LogFormat) else get_format(fmt)
    limit = 1.0 if max_unparsed is None else float(max_unparsed)
    if not 0 <= limit <= 1:
        raise LlmadError(f"max_unparsed must be a share between 0 and 1, got {max_unparsed!r}")
    r = LogReader(path, fmt, reader, progress)
    line_ids: list[int] = []
    columns: dict[str, list[str]] = {f: [] for f in fmt.fields}
    for n, fields in r:
        line_ids.append(n)
        for k, v in fields.items():
            columns[k].append(v)
    summary = r.summary.to_dict()
    if r.summary.parsed == 0:
        hint = syntax_hint(fmt.spec)
        raise LlmadError(f"{path}: no line matches the format {fmt.spec!r}"
                         + (f" (see the quarantine file {summary['quarantine_file']})"
                            if summary.get("quarantine_file") else "") + (f"; {hint}" if hint else ""))
    check_unparsed(summary, fmt, limit, hint)
    model = TemplateModel(templates or TemplateConfig())
    cluster = [model.add(c) for c in columns["Content"]]
    final = model.templates()
    ids = {cid: event_id(t) for cid, t in final.items()}
    table = pd.DataFrame({"LineId": line_ids, **{f: columns[f] for f in fmt.fields if f != "Content"},
                          "Content": columns["Content"], "EventId": [ids[c] for c in cluster],
                          "EventTemplate": [final[c] for c in cluster]})
    summary.update(format=fmt.spec, unparsed_share=unparsed_share(summary), max_unparsed=limit,
                   templates=int(table["EventTemplate"].nunique()))
    return table, summary


def summary_line(summary: dict, out: str | Path | None = None) -> str:
    """One line for a terminal: lines read, parsed, quarantined (share), templates, output."""
    s = summary
    dropped = s["lines"] - s["parsed"]
    share = dropped / s["lines"] if s["lines"] else 0.0
    text = (f"{Path(s['path']).name}: {s['lines']} lines read, {s['parsed']} parsed, {dropped} quarantined "
            f"({share:.1%}; {s['non_matching']} not matching the format, {s['empty']} empty)"
            + (f", {s['bad_encoding']} with invalid UTF-8 replaced" if s["bad_encoding"] else "")
            + (f", {s['overlong']} overlong cut" if s["overlong"] else "")
            + f", {s['templates']} templates")
    if out is not None:
        text += f" -> {out}"
    if s.get("quarantine_file"):
        text += f" (quarantine: {s['quarantine_file']})"
    return text
