"""Loading the config: the YAML file and the flags merged into one tree, checked against the model
and built into a frozen Config. Every problem is one ConfigError that names the key, what is
wrong, and where the value came from: the file, or the flag that set it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import yaml

from crawler.config.model import Config
from crawler.config.validate import Invalid, check, where
from crawler.errors import ConfigError
from crawler.secrets import holds_password, is_secret_key


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    flags: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Config:
    """Read `path` (YAML), apply `overrides` (dotted keys, e.g. ``concurrency.api_calls=8``;
    None means "not given") and validate; any problem is one ConfigError naming the key.
    `flags` names the command-line flag behind an override (``{"since": "--since"}``): a
    problem with that value names the flag, never the file."""
    given = {key: value for key, value in overrides.items() if value is not None}
    origin = _Origin(path, given, flags or {})
    raw = read_yaml(path) if path is not None else {}
    for dotted, value in given.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            child = node.get(key)
            node[key] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[leaf] = value
    try:
        return _build(raw)
    except Invalid as exc:
        raise ConfigError(origin.blame(exc)) from None


class _Origin:
    """Where each value came from: a flag (an override) or the file."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        given: Mapping[str, Any],
        flags: Mapping[str, str],
    ) -> None:
        self.file = str(path) if path is not None else "config"
        self.given = list(given)
        self.flags = flags

    def blame(self, error: Invalid) -> str:
        """The error's line: "FILE: key: problem", or for a flag "--flag: problem"."""
        dotted = ".".join(str(part) for part in error.path)
        key = next((k for k in self.given if dotted == k or dotted.startswith(f"{k}.")), None)
        if key is None:
            return f"{self.file}: {error.message()}"
        flag = self.flags.get(key)
        if flag is None:  # an override from code, not a flag: the key alone says it
            return error.message()
        here = where(error.path)
        natural = f"--{here.replace('_', '-').replace('.', '-')}"
        return error.message(flag if flag == natural else f"{flag} ({here})")


def _build(raw: dict[str, Any]) -> Config:
    """The checked Config of a merged tree, or Invalid."""
    if isinstance(raw.get("regions"), str) and raw["regions"] != "all":
        raw["regions"] = [r.strip() for r in raw["regions"].split(",") if r.strip()]
    since = raw.get("since")
    try:
        if isinstance(since, str) and (ago := _duration(since)) is not None:
            raw["since"] = (datetime.now(UTC) - ago).isoformat()
    except OverflowError:
        raise Invalid(("since",), f"{since!r} reaches back too far") from None
    config = msgspec.convert(check(raw, Config), Config)
    if config.accounts and config.organization:
        raise Invalid(("accounts",), "set either accounts or organization, not both")
    if config.shard and int(config.shard.split("/")[0]) >= int(config.shard.split("/")[1]):
        raise Invalid(("shard",), f"K/N needs 0 <= K < N, got {config.shard}")
    if config.since is not None and config.since.tzinfo is None:
        raise Invalid(("since",), "give a time zone, e.g. 2026-11-01T00:00:00Z")
    return config


def _duration(text: str) -> timedelta | None:
    """'90m', '36h', '7d', '2w' as a timedelta; None for anything else (a timestamp)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if match is None:
        return None
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, with two differences. A timestamp that names no real day
    (2026-13-01) stays the text it was, so that the check reports it at its key; any other
    scalar that PyYAML cannot construct (`!!int x`) is a YAML error with its line.

    Booleans stay YAML 1.1's (a `policies: yes` is true, as it always was): the check maps the
    false that an unquoted `off` becomes back to "off" where a key's choices have it."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.tag}: {exc}", node.start_mark
            ) from exc

    def construct_timestamp(self, node: yaml.ScalarNode) -> Any:
        text = self.construct_scalar(node)
        if self.timestamp_regexp.match(text) is None:  # `!!timestamp x`: no timestamp at all
            return text
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:  # a month or day that does not exist
            return text


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_timestamp)


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in the YAML file at `path` ({} when empty), or ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file in UTF-8 (byte {exc.start}); save the YAML as UTF-8"
        ) from None
    try:
        loaded = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return loaded


def plaintext_secrets(path: str | os.PathLike[str] | None) -> list[str]:
    """The keys of the config file at `path` whose values hold a secret in plain text, each as
    "KEY: what" for a warning (never the secret itself); [] for no file or an unreadable one
    (load_config reports those)."""
    if path is None:
        return []
    try:
        raw = read_yaml(path)
    except ConfigError:
        return []
    found: list[str] = []

    def walk(node: Any, here: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{here}.{key}" if here else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{here}[{i}]")
        elif isinstance(node, str) and node and holds_password(node):
            found.append(
                f"{here}: a password inside the URI, in plain text; keep it out of the file "
                "(for PostgreSQL: PGPASSWORD or ~/.pgpass)"
            )
        elif node and is_secret_key(here.rsplit(".", 1)[-1]):
            found.append(f"{here}: a secret in plain text; keep it out of the file")

    walk(raw, "")
    return found
