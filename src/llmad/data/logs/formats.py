"""Loghub-style line formats: ``<Date> <Time> <Pid> <Level> <Component>: <Content>``.

A format string is a sequence of ``<Field>`` headers and literal text. Whitespace in the literal text
matches one or more whitespace characters; other literal text must appear as written. Every field but
the last matches a run of non-space characters (shortest first, so ``<Component>:`` stops at the
colon); the last field takes the rest of the line. A format must have a ``<Content>`` field: it is the
message that masking, template mining and the model text are built from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmad import LlmadError

BUILTIN: dict[str, str] = {
    "hdfs": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "bgl": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "thunderbird": "<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Content>",
    # Spirit's raw lines have Thunderbird's layout (CFDR hpc4: label, epoch, date, node, month, day, time, ...)
    "spirit": "<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Content>",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class LogFormat:
    """A compiled format: the original spec, its field names in order, and the line regex."""

    spec: str
    fields: tuple[str, ...]
    regex: re.Pattern = field(repr=False, compare=False)

    def parse(self, line: str) -> dict[str, str] | None:
        """Fields of ``line`` (without its newline), or ``None`` if it does not match."""
        m = self.regex.match(line)
        return m.groupdict() if m else None

    @property
    def has_label(self) -> bool:
        return "Label" in self.fields


def compile_format(spec: str) -> LogFormat:
    """Compile a format string; a malformed one raises :class:`LlmadError` naming the column."""
    if not isinstance(spec, str) or not spec.strip():
        raise LlmadError("log format is empty; give fields like '<Date> <Time> <Level> <Content>'")
    parts: list[tuple[str, str]] = []  # ("lit", text) or ("field", name)
    i, n = 0, len(spec)
    while i < n:
        c = spec[i]
        if c == "<":
            j = spec.find(">", i + 1)
            k = spec.find("<", i + 1)
            if j < 0 or (0 <= k < j):
                raise LlmadError(f"log format {spec!r}: column {i + 1}: '<' is not closed by '>'")
            name = spec[i + 1:j]
            if not _NAME.match(name):
                raise LlmadError(f"log format {spec!r}: column {i + 2}: field name {name!r} must be a word "
                                 "(letters, digits, underscore)")
            if any(kind == "field" and v == name for kind, v in parts):
                raise LlmadError(f"log format {spec!r}: column {i + 1}: field <{name}> appears twice")
            if parts and parts[-1][0] == "field":
                raise LlmadError(f"log format {spec!r}: column {i + 1}: fields <{parts[-1][1]}> and <{name}> "
                                 "need a separator between them")
            parts.append(("field", name))
            i = j + 1
        elif c == ">":
            raise LlmadError(f"log format {spec!r}: column {i + 1}: '>' without an opening '<'")
        else:
            j = i
            while j < n and spec[j] not in "<>":
                j += 1
            parts.append(("lit", spec[i:j]))
            i = j
    names = tuple(v for kind, v in parts if kind == "field")
    if not names:
        raise LlmadError(f"log format {spec!r}: no <Field> in it")
    if "Content" not in names:
        raise LlmadError(f"log format {spec!r}: needs a <Content> field (the message)")
    last = names[-1]
    pattern = ["^"]
    for kind, v in parts:
        if kind == "lit":
            for piece in re.split(r"(\s+)", v):
                if not piece:
                    continue
                pattern.append(r"\s+" if piece.isspace() else re.escape(piece))
        elif v == last:
            pattern.append(f"(?P<{v}>.*?)")
        else:
            pattern.append(f"(?P<{v}>\\S+?)")
    pattern.append(r"\s*$")
    return LogFormat(spec=spec, fields=names, regex=re.compile("".join(pattern)))


def get_format(name_or_spec: str) -> LogFormat:
    """A built-in format by name (``hdfs``, ``bgl``, ``thunderbird``, ``spirit``) or a format string."""
    key = (name_or_spec or "").strip()
    if not key:
        return compile_format(key)  # raises: empty
    if key.lower() in BUILTIN:
        return compile_format(BUILTIN[key.lower()])
    if "<" not in key and ">" not in key:
        raise LlmadError(f"unknown log format {name_or_spec!r}: give a built-in name "
                         f"({', '.join(BUILTIN)}) or a format string like '<Date> <Time> <Content>'")
    return compile_format(key)
