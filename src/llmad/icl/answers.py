"""Parsing a generated answer (chain of thought): the final ``Answer: Normal`` / ``Answer: Abnormal`` line.

The LAST line that starts with ``Answer`` (any case, optional markdown bold or quotes, ``:`` or ``-``) and
names exactly one label counts. Anything else is *unparseable*: counted and reported, never guessed
(``None``). A label word merely mentioned in the reasoning ("this could be abnormal, but…") is not an
answer.
"""

from __future__ import annotations

import re

from llmad.icl.prompts import LABELS

_ANSWER = re.compile(r"^[\s>*_\"'`#-]*(?:final\s+)?answer\s*\**\s*[:\-]\s*(.*)$", re.IGNORECASE)
_WORD = re.compile(r"\b(normal|abnormal)\b", re.IGNORECASE)


def parse_answer(text: str) -> int | None:
    """0 (Normal), 1 (Abnormal) or None (no well-formed answer line)."""
    for line in reversed(text.splitlines()):
        m = _ANSWER.match(line)
        if not m:
            continue
        words = {w.lower() for w in _WORD.findall(m.group(1))}
        if len(words) == 1:
            return [w.lower() for w in LABELS].index(words.pop())
        return None  # the last answer line names no label, or both
    return None
