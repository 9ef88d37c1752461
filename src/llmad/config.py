"""Typed configurations: frozen dataclasses with help text, JSON round-trip and strict keys.

Every stage with settings (a detector, an adapter, a training loop) declares them once as a frozen
dataclass whose fields carry their default and their help text (``option(default, "help")``). The CLI
reads defaults and help from there; models save the dict form next to their weights.

- :func:`from_dict` builds a config from plain data (JSON, CLI overrides), refusing unknown keys with the
  list of valid ones and checking simple types; nested configs may be given as partial dicts.
- :func:`to_dict` is the JSON form (tuples become lists).
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, field, fields, is_dataclass
from typing import Any, TypeVar

from llmad import LlmadError

C = TypeVar("C")


def option(default: Any, help: str, choices: tuple | None = None) -> Any:
    """A config field with its default, help text and (optionally) allowed values."""
    meta = {"help": help, "choices": choices}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple or a nested config for mutable defaults")
    if is_dataclass(default):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


def help_of(cls: type, name: str) -> str:
    """Help text of a field, with its default (and choices): what the CLI shows."""
    f = {f.name: f for f in fields(cls)}[name]
    text = f.metadata.get("help", "")
    choices = f.metadata.get("choices")
    if choices:
        text += f" ({', '.join(map(str, choices))})"
    d = default_of(cls, name)
    if d is not None and not is_dataclass(d):
        text += f" (default: {d})"
    return text


def default_of(cls: type, name: str) -> Any:
    f = {f.name: f for f in fields(cls)}[name]
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    raise KeyError(name)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _args(t: Any) -> tuple:
    return typing.get_args(t)


def _is_union(t: Any) -> bool:
    return typing.get_origin(t) in (typing.Union, types.UnionType)


def _nested(t: Any) -> type | None:
    """The dataclass inside an annotation (``X`` or ``X | None``), if any."""
    if is_dataclass(t):
        return t
    if _is_union(t):
        for a in _args(t):
            if is_dataclass(a):
                return a
    return None


def _type_ok(value: Any, t: Any) -> bool:
    if t is Any:
        return True
    if _is_union(t):
        return any(_type_ok(value, a) for a in _args(t))
    if t is type(None):
        return value is None
    origin = typing.get_origin(t)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        args = _args(t)
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(args) == len(value) and all(_type_ok(v, a) for v, a in zip(value, args))
    if origin is typing.Literal:
        return value in _args(t)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(t, type):
        return isinstance(value, t)
    return True


def _type_name(t: Any) -> str:
    if _is_union(t):
        return " or ".join(_type_name(a) for a in _args(t))
    if t is type(None):
        return "null"
    if typing.get_origin(t) is tuple:
        return "a list"
    return getattr(t, "__name__", str(t))


def from_dict(cls: type[C], data: Any = None, where: str | None = None, **overrides: Any) -> C:
    """Build ``cls`` from ``data`` (a dict, an instance or None) with ``overrides`` on top.

    Unknown keys are refused with the list of valid ones; values are checked against the annotations;
    a nested config takes a partial dict (merged over its defaults) or, when it has a ``kind`` field,
    a bare string for that kind.
    """
    label = where or cls.__name__
    if isinstance(data, cls):
        data = to_dict(data)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LlmadError(f"{label}: expected an object of settings, got {type(data).__name__}")
    data = {**data, **overrides}
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        raise LlmadError(f"{label}: unknown setting(s) {unknown}; valid: {', '.join(known)}")
    hints = _hints(cls)
    kw = {}
    for k, v in data.items():
        t = hints[k]
        sub = _nested(t)
        if sub is not None and v is not None and not isinstance(v, sub):
            if isinstance(v, str) and "kind" in {f.name for f in fields(sub)}:
                v = {"kind": v}
            v = from_dict(sub, v, f"{label}.{k}")
        elif isinstance(v, list):
            v = tuple(v)
        if sub is None and not _type_ok(v, t):
            raise LlmadError(f"{label}.{k}: expected {_type_name(t)}, got {v!r}")
        kw[k] = v
    try:
        return cls(**kw)
    except TypeError as e:  # pragma: no cover - a required field without a default
        raise LlmadError(f"{label}: {e}") from None


def to_dict(cfg: Any) -> dict:
    """Plain JSON-ready dict of a config (nested configs as dicts, tuples as lists)."""
    def conv(v):
        if is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def check_choices(cfg: Any) -> None:
    """Refuse a value outside a field's declared ``choices`` (call from ``__post_init__``)."""
    for f in fields(cfg):
        choices = f.metadata.get("choices")
        v = getattr(cfg, f.name)
        if choices and v not in choices:
            raise LlmadError(f"{type(cfg).__name__}.{f.name} must be one of {', '.join(map(str, choices))}, "
                             f"not {v!r}")


def replace(cfg: C, **changes: Any) -> C:
    """A copy of ``cfg`` with ``changes`` applied (validated like :func:`from_dict`)."""
    return from_dict(type(cfg), cfg, **changes)


__all__ = ["option", "help_of", "default_of", "from_dict", "to_dict", "check_choices", "replace"]
