"""Streaming reader of raw log files with a quarantine for lines it cannot use.

The file is read line by line in binary (a 10 GB log is never loaded whole; ``.gz`` files are read
through :mod:`gzip`). Every physical line is accounted for in a :class:`ReadSummary`:

- invalid UTF-8: decoded with U+FFFD replacements and **kept**; counted and listed in the quarantine file;
- overlong (more than ``max_line_bytes``): truncated to the limit and **kept**; counted and listed;
- a last line without a newline (a file still being written): parsed like any other if it matches;
  otherwise quarantined with the reason ``truncated-last-line``;
- empty lines and lines that do not match the format: **dropped**, counted and listed.

:func:`check_unparsed` turns "the format matches only part of the file" into an error: when more than a
share (default :data:`DEFAULT_MAX_UNPARSED`, 2 %) of the non-empty lines do not match, the format is
most likely the wrong one, and the lines that did match are most likely split into the wrong fields.

The quarantine file is a TSV (``line``, ``reason``, ``action``, ``raw``) with tabs, newlines and
backslashes in the raw text escaped; it is only written when there is something to list.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmad import LlmadError
from llmad.data.logs.formats import LogFormat
from llmad.paths import cache_dir


@dataclass(frozen=True)
class ReaderConfig:
    """How to read a raw log file."""

    max_line_bytes: int = 64 * 1024
    #: quarantine TSV to write; ``None`` -> ``<cache>/quarantine/<file name>.quarantine.tsv``
    quarantine: str | None = None
    #: progress callback granularity (lines)
    progress_every: int = 20000


@dataclass
class ReadSummary:
    """What happened to every line of a file."""

    path: str
    lines: int = 0            # physical lines seen
    parsed: int = 0           # lines handed on (matched the format)
    dropped: int = 0          # lines not handed on (empty, non-matching)
    non_matching: int = 0
    empty: int = 0
    bad_encoding: int = 0     # kept, with replacement characters
    overlong: int = 0         # kept, truncated to max_line_bytes
    unterminated_last_line: bool = False
    first_non_matching: int | None = None  # line number of the first line that did not match the format
    quarantine_file: str | None = None
    quarantined: int = 0      # rows written to the quarantine file (kept or dropped)
    reasons: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def default_quarantine_path(path: str | Path) -> Path:
    return cache_dir() / "quarantine" / f"{Path(path).name}.quarantine.tsv"


class LogReader:
    """Iterate ``(line_number, fields)`` over the lines of ``path`` that match ``fmt``.

    ``line_number`` is 1-based in the raw file. After iteration, :attr:`summary` holds the counts.
    """

    def __init__(self, path: str | Path, fmt: LogFormat, config: ReaderConfig | None = None,
                 progress: Callable[[int, int], None] | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise LlmadError(f"{self.path}: no such log file")
        self.fmt = fmt
        self.config = config or ReaderConfig()
        if self.config.max_line_bytes < 16:
            raise LlmadError("max_line_bytes must be at least 16")
        self.progress = progress
        qpath = self.config.quarantine or default_quarantine_path(self.path)
        self.quarantine_path = Path(qpath)
        self.summary = ReadSummary(path=str(self.path))
        self._qfh = None

    # -- quarantine --------------------------------------------------------------------------
    def _quarantine(self, number: int, reason: str, action: str, text: str) -> None:
        s = self.summary
        s.quarantined += 1
        s.reasons[reason] = s.reasons.get(reason, 0) + 1
        if self._qfh is None:
            self.quarantine_path.parent.mkdir(parents=True, exist_ok=True)
            self._qfh = open(self.quarantine_path, "w", encoding="utf-8")
            self._qfh.write(f"# quarantine of {self.path} (format {self.fmt.spec!r})\nline\treason\taction\traw\n")
            s.quarantine_file = str(self.quarantine_path)
        self._qfh.write(f"{number}\t{reason}\t{action}\t{_escape(text)}\n")

    def _open(self):
        if self.path.suffix == ".gz":
            return gzip.open(self.path, "rb")
        return open(self.path, "rb")

    # -- reading -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        limit = self.config.max_line_bytes
        s = self.summary
        total = self.path.stat().st_size if self.path.suffix != ".gz" else 0
        every = max(1, self.config.progress_every)
        parse = self.fmt.regex.match
        try:
            with self._open() as fh:
                raw_fh = getattr(fh, "fileobj", None) or fh
                while True:
                    raw = fh.readline(limit + 1)
                    if not raw:
                        break
                    s.lines += 1
                    n = s.lines
                    overlong = False
                    if raw.endswith(b"\n"):
                        terminated = True
                    elif len(raw) > limit:  # overlong: skip to the end of the physical line
                        overlong = True
                        terminated = False
                        while True:
                            chunk = fh.readline(1 << 20)
                            if not chunk:
                                break
                            if chunk.endswith(b"\n"):
                                terminated = True
                                break
                        raw = raw[:limit]
                    else:
                        terminated = False
                    if not terminated and not overlong:
                        s.unterminated_last_line = True
                    text, bad = _decode(raw, overlong)
                    text = text.rstrip("\r\n")
                    if bad:
                        s.bad_encoding += 1
                        self._quarantine(n, "bad-encoding", "kept", text)
                    if overlong:
                        s.overlong += 1
                        self._quarantine(n, "overlong", "kept-truncated", text)
                    if not text.strip():
                        s.empty += 1
                        s.dropped += 1
                        self._quarantine(n, "empty", "dropped", text)
                        continue
                    m = parse(text)
                    if m is None:
                        s.non_matching += 1
                        if s.first_non_matching is None:
                            s.first_non_matching = n
                        s.dropped += 1
                        reason = "truncated-last-line" if not terminated and not overlong else "no-format-match"
                        self._quarantine(n, reason, "dropped", text)
                        continue
                    s.parsed += 1
                    if self.progress and n % every == 0:
                        self.progress(raw_fh.tell() if total else n, total or 0)
                    yield n, m.groupdict("")  # a field of an absent optional part: ""
        finally:
            if self._qfh is not None:
                self._qfh.close()
                self._qfh = None
        if self.progress:
            self.progress(total or s.lines, total or s.lines)


def _decode(raw: bytes, overlong: bool) -> tuple[str, bool]:
    """UTF-8 text of ``raw`` and whether bytes had to be replaced.

    A multi-byte character cut by overlong truncation is dropped, not counted as bad encoding.
    """
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError as e:
        if overlong and e.start >= len(raw) - 3 and e.reason == "unexpected end of data":
            return _decode(raw[:e.start], False)
        return raw.decode("utf-8", errors="replace"), True


#: share of non-empty lines that may fail to match before a reader refuses the file (see check_unparsed)
DEFAULT_MAX_UNPARSED = 0.02
ENV_MAX_UNPARSED = "LLMAD_MAX_UNPARSED"


def unparsed_share(summary: ReadSummary | dict) -> float:
    """Share of the non-empty lines that did not match the format (0 for a file of empty lines)."""
    s = summary if isinstance(summary, dict) else summary.to_dict()
    base = s["lines"] - s["empty"]
    return s["non_matching"] / base if base > 0 else 0.0


def max_unparsed_from(value: float | None) -> float:
    """The threshold to apply: ``value``, else ``$LLMAD_MAX_UNPARSED``, else :data:`DEFAULT_MAX_UNPARSED`."""
    import os

    source = "max_unparsed"
    if value is None:
        env = os.environ.get(ENV_MAX_UNPARSED, "").strip()
        if not env:
            return DEFAULT_MAX_UNPARSED
        source = f"${ENV_MAX_UNPARSED}"
        try:
            value = float(env)
        except ValueError:
            raise LlmadError(f"{source} must be a share between 0 and 1, got {env!r}") from None
    if not 0 <= value <= 1:
        raise LlmadError(f"{source} must be a share between 0 and 1, got {value!r}")
    return float(value)


def check_unparsed(summary: ReadSummary | dict, fmt: LogFormat | str, max_share: float, hint: str) -> None:
    """Raise a one-line :class:`LlmadError` when more than ``max_share`` of the non-empty lines of a file
    did not match its format: the share, the first such line, the quarantine file and ``hint``.

    A file where no line matches is left to the caller (its own "no line matches" message)."""
    from llmad.data.logs.formats import syntax_hint

    s = summary if isinstance(summary, dict) else summary.to_dict()
    share = unparsed_share(s)
    if s["parsed"] == 0 or share <= max_share:
        return
    spec = fmt.spec if isinstance(fmt, LogFormat) else fmt
    extra = syntax_hint(spec)
    where = f" (all listed in {s['quarantine_file']})" if s.get("quarantine_file") else ""
    raise LlmadError(
        f"{s['path']}: {share:.1%} of its non-empty lines ({s['non_matching']} of {s['lines'] - s['empty']}) do not "
        f"match the format {spec!r}, more than the {max_share:.1%} allowed; the first is line "
        f"{s['first_non_matching']}{where}. Check the format against that line"
        + (f" ({extra})" if extra else "") + f"; {hint}")


def read_all(path: str | Path, fmt: LogFormat, config: ReaderConfig | None = None,
             progress: Callable[[int, int], None] | None = None) -> tuple[list[tuple[int, dict]], ReadSummary]:
    """Convenience: every parsed line and the summary (small files and tests)."""
    r = LogReader(path, fmt, config, progress)
    rows = list(r)
    return rows, r.summary
