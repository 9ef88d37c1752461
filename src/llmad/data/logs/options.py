"""``LogOptions``: everything that turns a log source into windows; saved with a trained detector."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class LogOptions:
    """Everything that turns a log source into windows; saved with a trained detector."""

    format: str | None = None        # built-in name or format string (raw files)
    grouping: str | None = None      # fixed | line | time | session (None: the dataset's default)
    window: float | None = None      # lines (fixed) or seconds (time)
    step: float | None = None
    labels: str | None = None        # anomaly_label.csv or anomalous-id list (sessions)
    session_regex: str = r"blk_-?\d+"
    #: format fields written before each line's message in the text, comma-separated (e.g. "Component,Level");
    #: never Label. None: the message (<Content>) only.
    fields: str | None = None
    #: masked | templates | counts | template-counts | ids | id-counts (llmad.data.logs.text). None: the dataset's
    #: default (``ids`` for logs/hdfs and logs/thunderbird, measured best there; ``masked`` for the rest)
    text: str | None = None
    separator: str = " | "
    collapse_repeats: bool = True
    max_chars: int | None = None
    train: float | None = None       # split fractions (None: the dataset's default)
    valid: float | None = None
    dedup: bool = False              # drop valid/test windows whose text equals a train window's
    seed: int = 0                    # only for the stratified Spirit template split
    max_line_bytes: int = 64 * 1024
    quarantine_dir: str | None = None
    #: refuse a raw file when more than this share of its non-empty lines do not match the format
    #: (None: $LLMAD_MAX_UNPARSED, else 0.02; 1 reads any file)
    max_unparsed: float | None = None
    #: sessions (``detect``): a session with no line for this long before the file's end (or after its
    #: start) may continue past it and is marked incomplete. None: the timeout learnt from the training
    #: sessions (seconds, or line positions when the lines have no timestamps); 0 marks none.
    session_timeout: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> LogOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})

    def field_list(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in (self.fields or "").split(",") if f.strip())

    def masked_text(self):
        """The :class:`~llmad.data.logs.text.TextConfig` of a window's ``text`` column (always masked messages)."""
        from llmad.data.logs.text import TextConfig

        return TextConfig("masked", self.separator, self.collapse_repeats, self.max_chars)

    def merged(self, **over) -> LogOptions:
        return replace(self, **{k: v for k, v in over.items() if v is not None})
