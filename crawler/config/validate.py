"""Checking a config tree (parsed YAML plus flags) against the config model before msgspec builds
it: the first problem, as the key's path and a sentence for a person (what is wrong, the value
given, what a valid one looks like, or the key that was meant).

The rules are read from the model's annotations (field names, types, choices in their declared
order, msgspec.Meta bounds and patterns, and the `form` that says what a pattern wants), so
msgspec's English messages are never parsed and no message shows a raw regex."""

from __future__ import annotations

import difflib
import json
import re
from datetime import date, datetime
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from crawler.secrets import is_secret_key

Path = tuple[str | int, ...]

# Kinds in the words of the messages (YAML's and msgspec's, not Python's). In this order: a
# bool is an int, a datetime is a date.
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (NoneType, "null"),
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    ((list, tuple), "array"),
    (dict, "object"),
    (datetime, "datetime"),
    (date, "date"),
)
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


class Invalid(Exception):
    """A value that does not fit the model: where it is, and what is wrong with it."""

    def __init__(self, path: Path, problem: str, *, unknown_key: bool = False) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem
        self.unknown_key = unknown_key

    def message(self, label: str | None = None) -> str:
        """One line: "retry.max_attempts: expected `int` >= 1, got 0"; `label` (a flag)
        instead of the key's path."""
        here = where(self.path)
        if self.unknown_key:
            text = f"unknown key '{here}'{self.problem}"
            text = f"{label}: {text}" if label else text
        else:
            text = f"{label or here}: {self.problem}" if label or here else self.problem
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def check(value: Any, model: type[msgspec.Struct]) -> Any:
    """`value` ready for msgspec.convert(value, model), or Invalid for its first problem."""
    return _check(value, model, ())


def where(path: Path) -> str:
    """("regions", 0) -> "regions[0]"; ("retry", "max_attempts") -> "retry.max_attempts"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def shown(value: Any, path: Path) -> str | None:
    """The value given at `path`, short and quoted as a person wrote it; None for a secret."""
    if any(isinstance(part, str) and is_secret_key(part) for part in path):
        return None
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    except (TypeError, ValueError):  # keys json cannot write (dates): show Python's form
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check(value: Any, annotation: Any, path: Path) -> Any:
    kind, meta = _unwrap(annotation)
    origin = get_origin(kind)
    if origin in (Union, UnionType):
        return _union(value, get_args(kind), path)
    if origin is Literal:
        return _literal(value, get_args(kind), path)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return _struct(value, kind, path)
    if not _fits(value, kind):
        raise Invalid(path, _mismatch(value, _name(kind), path))
    if origin is list:
        return [_check(item, get_args(kind)[0], (*path, i)) for i, item in enumerate(value)]
    problem = _constraint(value, kind, meta)
    if problem is not None:
        given = shown(value, path)
        form = meta.get("form")
        if form is not None:
            problem = f"{given} is not {form}" if given is not None else f"expected {form}"
        elif given is not None:
            problem += f", got {given}"
        raise Invalid(path, problem)
    return value


def _unwrap(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """Annotated[T, Meta(...)] -> (T, the Meta's constraints and extra, merged)."""
    if get_origin(annotation) is not Annotated:
        return annotation, {}
    kind, *metadata = get_args(annotation)
    merged: dict[str, Any] = {}
    for meta in metadata:
        if isinstance(meta, msgspec.Meta):
            for attribute in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
                if getattr(meta, attribute) is not None:
                    merged[attribute] = getattr(meta, attribute)
            merged.update(meta.extra or {})
    return kind, merged


def _fits(value: Any, kind: Any) -> bool:
    """Whether `value` is of the kind that `kind` takes (its constraints aside)."""
    if isinstance(value, bool) or kind in (NoneType, bool, str, dict):
        return type(value) is kind or (kind is str and isinstance(value, str))
    if kind is float:
        return isinstance(value, int | float)
    if kind in (date, datetime):
        # YAML reads a timestamp as a date or datetime; a flag gives a string.
        return isinstance(value, str | date)
    if get_origin(kind) is list:
        return isinstance(value, list | tuple)
    return isinstance(kind, type) and isinstance(value, kind)


def _constraint(value: Any, kind: Any, meta: dict[str, Any]) -> str | None:
    """What is wrong with a value of the right kind, or None."""
    name = _name(kind)
    for attribute, operator in _BOUNDS:
        if attribute in meta and not _compare(value, operator, meta[attribute]):
            return f"expected `{name}` {operator} {meta[attribute]}"
    if "min_length" in meta and len(value) < meta["min_length"]:
        return f"expected `{name}` of length >= {meta['min_length']}"
    if "max_length" in meta and len(value) > meta["max_length"]:
        return f"expected `{name}` of length <= {meta['max_length']}"
    if "pattern" in meta and re.search(meta["pattern"], value) is None:
        return f"expected `{name}` of another form"  # every pattern has a form (tested)
    if kind in (date, datetime):
        try:  # msgspec's own parser decides, so what passes here also converts
            msgspec.convert(value, kind)
        except msgspec.ValidationError:
            return f"expected a {name} such as 2026-11-01"
    return None


def _compare(value: float, operator: str, bound: float) -> bool:
    """`value operator bound`; NaN fails every bound, as in msgspec."""
    if operator == ">=":
        return value >= bound
    if operator == ">":
        return value > bound
    if operator == "<=":
        return value <= bound
    return value < bound


def _name(kind: Any) -> str:
    """The name of an annotation's kind in messages: `int`, `str`, `array`, `object`."""
    if get_origin(kind) is Literal:
        return _kind_of(get_args(kind)[0])
    if get_origin(kind) is list:
        return "array"
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return "object"
    return next((name for python, name in _KINDS if python is kind), getattr(kind, "__name__", "?"))


def _kind_of(value: Any) -> str:
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


def _mismatch(value: Any, expected: str, path: Path) -> str:
    text = f"expected `{expected}`, got `{_kind_of(value)}`"
    given = shown(value, path)
    return text if given is None or value is None else f"{text} {given}"


def _literal(value: Any, choices: tuple[Any, ...], path: Path) -> Any:
    """One of the choices. YAML 1.1 reads an unquoted off/no/false as False and on/yes/true as
    True, so a user who wrote `manifests: off` meant "off": False is "off" (and True "on")
    where that is a choice; any other boolean is explained, naming the choices."""
    if isinstance(value, bool):
        meant = "on" if value else "off"
        if meant in choices:
            return meant
    elif isinstance(value, str) and value in choices:
        return value
    problem = f"{shown(value, path)} is not one of: {', '.join(map(str, choices))}"
    if isinstance(value, bool):
        problem += " (YAML reads unquoted on/off/yes/no as true/false)"
    raise Invalid(path, problem)


def _union(value: Any, members: tuple[Any, ...], path: Path) -> Any:
    """An optional value is checked as its one other type; otherwise the member of the value's
    kind decides (msgspec allows one member per kind)."""
    others = [m for m in members if m is not NoneType]
    if value is None and len(others) < len(members):
        return None
    if len(others) == 1:
        return _check(value, others[0], path)
    for member in others:
        kind = _unwrap(member)[0]
        literal = get_origin(kind) is Literal
        if (literal and isinstance(value, str | bool)) or (not literal and _fits(value, kind)):
            return _check(value, member, path)
    expected = " | ".join(dict.fromkeys(_name(_unwrap(m)[0]) for m in others))
    raise Invalid(path, _mismatch(value, expected, path))


def _struct(value: Any, struct: type[msgspec.Struct], path: Path) -> Any:
    """A section: every key known (else "did you mean"), each value checked, required keys
    present."""
    if not isinstance(value, dict):
        raise Invalid(path, _mismatch(value, "object", path))
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    checked = {}
    for key, item in value.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            known = (
                f" (did you mean '{hint[0]}'?)" if hint else f" (known keys: {', '.join(fields)})"
            )
            raise Invalid((*path, str(key)), known, unknown_key=True)
        checked[key] = _check(item, field.type, (*path, key))
    missing = [name for name, f in fields.items() if f.required and name not in value]
    if missing:
        raise Invalid(path, f"missing required key '{missing[0]}'")
    return checked
