"""Regex masking of variable parts of log messages to ``<*>``.

One combined pattern, applied left to right in a single pass; earlier alternatives win:
HDFS block ids, IPv4 addresses (optional ``:port``, optional leading ``/``), file paths,
hexadecimal values (``0x..`` or 8+ hex digits containing a digit), and numbers that stand alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "<*>"

PATTERNS: dict[str, str] = {
    "block": r"blk_-?\d+",
    "ip": r"/?(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?![\w.])",
    "path": r"(?<![\w<>*])(?:/[\w.\-:@]+)+/?",
    "hex": r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b",
    "number": r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])",
}

_COMBINED = re.compile("|".join(f"(?:{p})" for p in PATTERNS.values()))


def mask(message: str) -> str:
    """``"Receiving block blk_-16 src: /10.0.0.1:5 size 67"`` -> ``"Receiving block <*> src: <*> size <*>"``."""
    return _COMBINED.sub(MASK, message)


def mask_all(messages: Iterable[str]) -> list[str]:
    sub = _COMBINED.sub
    return [sub(MASK, m) for m in messages]
