"""Loghub-style line formats: ``<Date> <Time> <Pid> <Level> <Component>: <Content>``.

A format string is a sequence of ``<Field>`` headers and literal text:

- **Literal text** is matched as written (brackets, pipes, dashes, colons, commas ...), except that
  whitespace matches one or more whitespace characters. ``\\[``, ``\\]``, ``\\<``, ``\\>`` and ``\\\\``
  write a literal ``[``, ``]``, ``<``, ``>`` and ``\\``; any other backslash is literal.
- **Fields.** The last field takes the rest of the line (it may be empty; trailing whitespace is
  dropped). Any other field matches lazily, shortest first, up to what follows it:

  - followed by whitespace (or by an optional part that may start with whitespace): a run of
    non-space characters, so ``<Date> <Time>`` splits on the space;
  - followed only by non-space literal text: anything, spaces included, up to the first place where
    that literal text appears (either literal, when an optional part follows), so
    ``[<Time>] <Content>`` reads ``[Sun Dec 04 04:47:44 2005] msg`` with ``Time`` =
    ``Sun Dec 04 04:47:44 2005``, and ``<Component>: <Content>`` stops at the first ``": "``. The
    split is never moved past that first place, so a line is matched in linear time.

  Two fields need a separator between them (also when an optional part between them is absent).
- **Optional parts** are written between double square brackets: ``[[ ... ]]`` matches its contents or
  nothing. ``<Component>[[[<PID>]]]: <Content>`` reads ``sshd[1234]: msg`` (PID ``1234``) and
  ``kernel: msg`` (PID empty). In a run of brackets the optional markers are the outermost two:
  ``[[[`` is "optional part, then a literal ``[``" and ``]]]`` is "a literal ``]``, then the end of the
  optional part". A field inside an absent optional part is the empty string ``""`` (fields that are
  present are never empty, except the last one). Optional parts do not nest, and ``<Content>`` and
  ``<Label>`` cannot be optional. A literal ``[[`` or ``]]`` is written ``\\[\\[`` / ``\\]\\]``.

A format must have a ``<Content>`` field: it is the message that masking, template mining and the
model text are built from. A malformed format raises :class:`LlmadError` naming the column (1-based).
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
_ESCAPABLE = "[]<>\\"
#: fields that may not sit inside an optional part
_REQUIRED = {"Content": "it is the message", "Label": "a missing label would read as an alert"}


@dataclass(frozen=True)
class LogFormat:
    """A compiled format: the original spec, its field names in order, and the line regex."""

    spec: str
    fields: tuple[str, ...]
    regex: re.Pattern = field(repr=False, compare=False)
    #: fields inside an optional part (``""`` when the part is absent from a line)
    optional: tuple[str, ...] = ()

    def parse(self, line: str) -> dict[str, str] | None:
        """Fields of ``line`` (without its newline), or ``None`` if it does not match."""
        m = self.regex.match(line)
        return m.groupdict("") if m else None

    @property
    def has_label(self) -> bool:
        return "Label" in self.fields


def _err(spec: str, col: int, msg: str) -> LlmadError:
    return LlmadError(f"log format {spec!r}: column {col}: {msg}")


def _tokens(spec: str) -> list[tuple]:
    """``("lit", text, col)``, ``("field", name, col)``, ``("open", col)``, ``("close", col)``."""
    toks: list[tuple] = []
    lit: list[str] = []
    lit_col = 0
    open_col = 0  # column of the optional part being read, 0 outside one

    def add_lit(ch: str, col: int):
        nonlocal lit_col
        if not lit:
            lit_col = col
        lit.append(ch)

    def flush():
        if lit:
            toks.append(("lit", "".join(lit), lit_col))
            lit.clear()

    i, n = 0, len(spec)
    while i < n:
        c = spec[i]
        if c == "\\" and i + 1 < n and spec[i + 1] in _ESCAPABLE:
            add_lit(spec[i + 1], i + 1)
            i += 2
        elif c == "<":
            j = spec.find(">", i + 1)
            k = spec.find("<", i + 1)
            if j < 0 or (0 <= k < j):
                raise _err(spec, i + 1, "'<' is not closed by '>'")
            name = spec[i + 1:j]
            if not _NAME.match(name):
                raise _err(spec, i + 2, f"field name {name!r} must be a word (letters, digits, underscore)")
            flush()
            toks.append(("field", name, i + 1))
            i = j + 1
        elif c == ">":
            raise _err(spec, i + 1, "'>' without an opening '<'")
        elif c in "[]":
            j = i
            while j < n and spec[j] == c:
                j += 1
            run = j - i
            if run == 1:
                add_lit(c, i + 1)
            elif c == "[":
                if open_col:
                    raise _err(spec, i + 1, f"optional parts do not nest (one is open since column {open_col}); "
                                            "write a literal '[[' as '\\[\\['")
                flush()
                toks.append(("open", i + 1))
                open_col = i + 1
                for q in range(i + 2, j):
                    add_lit("[", q + 1)
            else:
                if not open_col:
                    raise _err(spec, i + 1, "']]' without an opening '[['; write a literal ']]' as '\\]\\]'")
                for q in range(i, j - 2):
                    add_lit("]", q + 1)
                flush()
                if toks[-1][0] == "open":
                    raise _err(spec, toks[-1][1], "empty optional part '[[]]'")
                toks.append(("close", j - 1))
                open_col = 0
            i = j
        else:
            add_lit(c, i + 1)
            i += 1
    flush()
    if open_col:
        raise _err(spec, open_col, "'[[' is not closed by ']]'")
    return toks


def _lit_regex(text: str) -> str:
    return "".join(r"\s+" if piece.isspace() else re.escape(piece) for piece in re.split(r"(\s+)", text) if piece)


def _follow(toks: list[tuple], i: int) -> tuple[set[str], list[str]]:
    """What may come right after token ``i``: kinds (``space``, ``text`` for a non-space literal, ``field``,
    ``end``) and the literal texts that may follow it."""
    kinds: set[str] = set()
    lits: list[str] = []

    def lit(text: str):
        kinds.add("space" if text[0].isspace() else "text")
        lits.append(text)

    j = i + 1
    while j < len(toks):
        kind = toks[j][0]
        if kind == "lit":
            lit(toks[j][1])
            return kinds, lits
        if kind == "field":
            kinds.add("field")
            return kinds, lits
        if kind == "open":  # present: its first token; absent: what follows its end
            first = toks[j + 1]
            if first[0] == "field":
                kinds.add("field")
            else:
                lit(first[1])
            while toks[j][0] != "close":
                j += 1
        j += 1  # past a "close" (or the skipped optional part)
    kinds.add("end")
    return kinds, lits


def compile_format(spec: str) -> LogFormat:
    """Compile a format string; a malformed one raises :class:`LlmadError` naming the column."""
    if not isinstance(spec, str) or not spec.strip():
        raise LlmadError("log format is empty; give fields like '<Date> <Time> <Level> <Content>'")
    toks = _tokens(spec)
    names: list[str] = []
    optional: list[str] = []
    inside = False
    for t in toks:
        if t[0] == "open":
            inside = True
        elif t[0] == "close":
            inside = False
        elif t[0] == "field":
            name, col = t[1], t[2]
            if name in names:
                raise _err(spec, col, f"field <{name}> appears twice")
            if inside:
                if name in _REQUIRED:
                    raise _err(spec, col, f"<{name}> cannot be optional ({_REQUIRED[name]})")
                optional.append(name)
            names.append(name)
    if not names:
        raise LlmadError(f"log format {spec!r}: no <Field> in it")
    if "Content" not in names:
        raise LlmadError(f"log format {spec!r}: needs a <Content> field (the message)")
    last = names[-1]
    pattern = ["^"]
    for i, t in enumerate(toks):
        kind = t[0]
        if kind == "lit":
            pattern.append(_lit_regex(t[1]))
        elif kind == "open":
            pattern.append("(?:")
        elif kind == "close":
            pattern.append(")?")
        else:
            name = t[1]
            if name == last:
                pattern.append(f"(?P<{name}>.*?)")
                continue
            nxt, lits = _follow(toks, i)
            if "field" in nxt:
                other = next(u for u in toks[i + 1:] if u[0] == "field")
                raise _err(spec, other[2], f"fields <{name}> and <{other[1]}> need a separator between them")
            if nxt & {"space", "end"}:
                pattern.append(f"(?P<{name}>\\S+?)")
            else:  # up to the first place where a literal that may follow it starts (no backtracking past it)
                stop = "|".join(_lit_regex(x) for x in lits)
                # atomic without a possessive quantifier: a lookahead captures the run, a back-reference takes
                # it (CPython before 3.11.3 matches `(?:(?!x).)++` wrongly: Debian 12's 3.11.2 parsed no line)
                pattern.append(f"(?=(?P<{name}>(?:(?!{stop}).)+))(?P={name})")
    pattern.append(r"\s*$")
    return LogFormat(spec=spec, fields=tuple(names), regex=re.compile("".join(pattern)), optional=tuple(optional))


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


def syntax_hint(spec: str) -> str:
    """A hint when ``spec`` looks like a Loghub *regex* format rather than llmad's syntax ('' if not)."""
    if ")?" in spec:
        return "optional parts are written [[ ... ]] in llmad formats, not ( ... )?"
    return ""
