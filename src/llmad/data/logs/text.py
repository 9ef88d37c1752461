"""Window -> text for language models and TF-IDF: the text modes.

A window is a list of (masked) messages. What a detector reads is chosen by the text mode, saved with
the model:

- ``masked``: the masked messages in order, joined with the separator (``collapse_repeats`` writes a
  run of identical consecutive messages once with a count: ``msg (x3)``).
- ``templates``: the same sequence with each message replaced by its drain3 template (mined on train).
- ``counts``: each distinct masked message once, in order of first appearance, with its count
  (``msg (x3)``): *which* events occur and how often, in far fewer tokens than the sequence
  (an HDFS session: ~313 characters instead of ~1,050, so it fits a 128-token budget).
- ``template-counts``: the distinct drain3 templates once each with their counts.
- ``ids``: the sequence of drain3 template ids (``E3 E5 E5 E12``), space-separated and never collapsed,
  so a bag of words over it is the window's event-count vector; ``E0`` is a template unseen in training.
- ``id-counts``: that event-count vector written out: each distinct template id once, in order of first
  appearance, each followed by its count (``E3 1 E5 2 E12 1``), at most half the sequence's tokens and less
  where events repeat (an HDFS session: median 7 distinct events of 19).

``max_chars`` truncates what is still too long for the backbone, keeping the head and the tail of the
window (an anomaly at either end survives) with a ``...`` marker in the middle; the number of windows
cut is reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from llmad import LlmadError

CUT = " ... "
#: text mode -> (unit of a window, aggregation)
MODES: dict[str, tuple[str, str]] = {
    "masked": ("message", "sequence"),
    "templates": ("template", "sequence"),
    "counts": ("message", "counts"),
    "template-counts": ("template", "counts"),
    "ids": ("id", "sequence"),
    "id-counts": ("id", "counts"),
}
UNSEEN_ID = "E0"


@dataclass(frozen=True)
class TextConfig:
    """How a window becomes text."""

    mode: str = "masked"          # one of MODES
    separator: str = " | "
    collapse_repeats: bool = True
    max_chars: int | None = None  # None: no character budget (the backbone's max_length still applies)

    def __post_init__(self):
        if self.mode not in MODES:
            raise LlmadError(f"unknown log text mode {self.mode!r}; choose {', '.join(MODES)}")
        if self.max_chars is not None and self.max_chars < 2 * len(CUT):
            raise LlmadError(f"max_chars must be at least {2 * len(CUT)}")

    @property
    def unit(self) -> str:
        """What one line becomes: its masked ``message``, its drain3 ``template``, or the template ``id``."""
        return MODES[self.mode][0]

    @property
    def needs_templates(self) -> bool:
        return self.unit in ("template", "id")


def _counted(item: str, n: int) -> str:
    return item if n == 1 else f"{item} (x{n})"


def collapse(messages: Sequence[str]) -> list[str]:
    """``[a, a, a, b]`` -> ``["a (x3)", "b"]``."""
    out: list[str] = []
    prev, count = None, 0
    for m in messages:
        if m == prev:
            count += 1
            continue
        if prev is not None:
            out.append(_counted(prev, count))
        prev, count = m, 1
    if prev is not None:
        out.append(_counted(prev, count))
    return out


def distinct_counts(messages: Sequence[str]) -> list[str]:
    """``[a, b, a, c, a]`` -> ``["a (x3)", "b", "c"]``: each distinct item once, first-appearance order."""
    return [_counted(m, n) for m, n in Counter(messages).items()]  # Counter keeps insertion order


def join(units: Sequence[str], cfg: TextConfig) -> str:
    """The text of one window's units (messages, templates or ids) before any character budget."""
    if cfg.unit == "id":
        if MODES[cfg.mode][1] == "counts":  # every id with its count, 1 too: a fixed (id, count) rhythm
            return " ".join(f"{i} {n}" for i, n in Counter(units).items())
        return " ".join(units)
    if MODES[cfg.mode][1] == "counts":
        parts = distinct_counts(units)
    else:
        parts = collapse(units) if cfg.collapse_repeats else list(units)
    return cfg.separator.join(parts)


def render(units: Sequence[str], cfg: TextConfig) -> tuple[str, bool]:
    """Text of one window and whether it was cut to ``cfg.max_chars``."""
    text = join(units, cfg)
    if cfg.max_chars is None or len(text) <= cfg.max_chars:
        return text, False
    keep = cfg.max_chars - len(CUT)
    head = keep - keep // 3
    tail = keep - head
    return text[:head] + CUT + text[len(text) - tail:], True


def render_all(windows: Sequence[Sequence[str]], cfg: TextConfig) -> tuple[list[str], int]:
    """Texts of many windows and how many were cut."""
    texts, cut = [], 0
    for units in windows:
        t, c = render(units, cfg)
        texts.append(t)
        cut += c
    return texts, cut
