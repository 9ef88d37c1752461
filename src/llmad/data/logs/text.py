"""Window -> text for language models.

The text of a window is its (masked) messages, or their template strings, joined with a separator.
``collapse_repeats`` writes a run of identical consecutive messages once with a count
(``msg (x3)``): lossless and much shorter for HDFS sessions. ``max_chars`` truncates what is still
too long for the backbone, keeping the head and the tail of the window (an anomaly at either end
survives) with a ``...`` marker in the middle; the number of windows cut is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmad import LlmadError

CUT = " ... "


@dataclass(frozen=True)
class TextConfig:
    """How a window becomes text."""

    mode: str = "masked"          # masked | templates
    separator: str = " | "
    collapse_repeats: bool = True
    max_chars: int | None = None  # None: no character budget (the backbone's max_length still applies)

    def __post_init__(self):
        if self.mode not in ("masked", "templates"):
            raise LlmadError(f"unknown log text mode {self.mode!r}; choose masked or templates")
        if self.max_chars is not None and self.max_chars < 2 * len(CUT):
            raise LlmadError(f"max_chars must be at least {2 * len(CUT)}")


def collapse(messages: Sequence[str]) -> list[str]:
    """``[a, a, a, b]`` -> ``["a (x3)", "b"]``."""
    out: list[str] = []
    prev, count = None, 0
    for m in messages:
        if m == prev:
            count += 1
            continue
        if prev is not None:
            out.append(prev if count == 1 else f"{prev} (x{count})")
        prev, count = m, 1
    if prev is not None:
        out.append(prev if count == 1 else f"{prev} (x{count})")
    return out


def render(messages: Sequence[str], cfg: TextConfig) -> tuple[str, bool]:
    """Text of one window and whether it was cut to ``cfg.max_chars``."""
    parts = collapse(messages) if cfg.collapse_repeats else list(messages)
    text = cfg.separator.join(parts)
    if cfg.max_chars is None or len(text) <= cfg.max_chars:
        return text, False
    keep = cfg.max_chars - len(CUT)
    head = keep - keep // 3
    tail = keep - head
    return text[:head] + CUT + text[len(text) - tail:], True


def render_all(windows: Sequence[Sequence[str]], cfg: TextConfig) -> tuple[list[str], int]:
    """Texts of many windows and how many were cut."""
    texts, cut = [], 0
    for msgs in windows:
        t, c = render(msgs, cfg)
        texts.append(t)
        cut += c
    return texts, cut
