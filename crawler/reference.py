"""The configuration reference, generated from the config model (field types, defaults and the
docstring under each field), so the README cannot drift from the code.

`python -m crawler.reference` prints it; `--write README.md` replaces the block between the
markers in that file."""

from __future__ import annotations

import ast
import inspect
import sys
from datetime import date, datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from crawler.config import model as config_module

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"


def _docstrings() -> dict[tuple[str, str], str]:
    """(class name, field name) -> the docstring written under the field."""
    tree = ast.parse(inspect.getsource(config_module))
    found = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for field, after in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                found[node.name, field.target.id] = " ".join(after.value.value.split())
    return found


def _struct(annotation: Any) -> type[msgspec.Struct] | None:
    """The config section behind a field's type (directly, optional, or a list of them)."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is list:
            return _struct(get_args(candidate)[0])
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _type_name(annotation: Any) -> str:
    """A type as a person reads it: `int`, `"a" or "b"`, `list of str`, `timestamp or null`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " or ".join(f'"{a}"' for a in args)
    if origin in (Union, UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "map"
    names = {type(None): "null", datetime: "timestamp", date: "date", float: "number"}
    if annotation in names:
        return names[annotation]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is not msgspec.NODEFAULT:
        return (
            "`null`"
            if field.default is None
            else f"`{msgspec.json.encode(field.default).decode()}`"
        )
    if field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
        return (
            "" if isinstance(value, msgspec.Struct) else f"`{msgspec.json.encode(value).decode()}`"
        )
    return "required"


def rows(
    struct: type[msgspec.Struct], prefix: str = "", docs: dict[tuple[str, str], str] | None = None
) -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) for every key, sections flattened with dotted keys."""
    docs = _docstrings() if docs is None else docs
    out = []
    for field in msgspec.structs.fields(struct):
        key = f"{prefix}{field.name}"
        description = docs.get((struct.__name__, field.name), "")
        section = _struct(field.type)
        if section is None:
            out.append((key, _type_name(field.type), _default(field), description))
            continue
        if _default(field):  # a list of sections, or an optional one: a row of its own
            out.append((key, _type_name(field.type), _default(field), description))
        listed = "list of" in _type_name(field.type)
        out += rows(section, f"{key}[]." if listed else f"{key}.", docs)
    return out


def reference() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, description in rows(config_module.Config):
        kind = kind.replace("|", "\\|")
        lines.append(f"| `{key}` | {kind} | {default} | {description} |")
    return "\n".join(lines) + "\n"


def write(path: Path) -> None:
    text = path.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{reference()}{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write(Path(sys.argv[2]))
    else:
        print(reference(), end="")
