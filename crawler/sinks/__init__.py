"""Where records go. A sink knows records, never AWS: `write` a batch, `aclose` at the end.

A sink that sees the `scan_summary` record knows the scan finished; closing without it means
the scan was interrupted or failed, and the sink keeps what it has under a name that says so.
Once closed, a file sink's `kept` is the path that holds the records (None when nothing was
written: a scan that failed before its first record leaves no file).

Sinks are chosen by URI: "-" and "jsonl:PATH" (JSON lines), "sqlite:PATH",
"postgresql://USER@HOST:PORT/DB", "parquet:DIR", or any scheme that an installed distribution
registers in the entry point group "ecr_crawler.sinks" (docs/sinks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol

from crawler.config import SinkOptions
from crawler.errors import ConfigError, CrawlerError
from crawler.records import ScanRecord
from crawler.secrets import redact_uri

ENTRY_POINT_GROUP = "ecr_crawler.sinks"
BUILT_IN = ("jsonl", "sqlite", "postgresql", "postgres", "parquet")


class Sink(Protocol):
    async def write(self, batch: Sequence[ScanRecord]) -> None: ...

    async def aclose(self) -> None: ...


def open_sink(uri: str, options: SinkOptions | None = None) -> Sink:
    """The sink for a URI; a bad URI, a missing extra or a plugin that fails is a ConfigError."""
    options = options or SinkOptions()
    scheme, sep, rest = uri.partition(":")
    if uri == "-" or (scheme == "jsonl" and rest):
        from crawler.sinks.jsonl import JsonlSink

        return JsonlSink(None if rest in ("", "-") else rest)
    if scheme == "sqlite" and rest:
        from crawler.sinks.sqlite import SqliteSink

        return SqliteSink(rest, prune=options.prune)
    if scheme in ("postgresql", "postgres") and rest.startswith("//"):
        _need("asyncpg", "postgres")
        from crawler.sinks.postgres import PostgresSink

        return PostgresSink(
            uri,
            schema=options.postgres_schema,
            prune=options.prune,
            retry_seconds=options.retry_seconds,
        )
    if scheme == "parquet" and rest:
        _need("pyarrow", "parquet")
        from crawler.sinks.parquet import ParquetSink

        return ParquetSink(rest, prune=options.prune)
    plugin = plugins().get(scheme) if sep and scheme not in BUILT_IN else None
    if plugin is not None:
        return _load(plugin, uri)
    # A mistyped database URI may carry a password: never repeat it.
    shown = redact_uri(uri)
    raise ConfigError(f"sink '{shown}': not a sink URI; {_usage(shown)}")


def describe(uri: str) -> str:
    """Where a sink writes, for a person: a file sink's path, a database's URI without its
    password and with the host and port it connects to, or a plugin's URI without password."""
    scheme, _, rest = uri.partition(":")
    if uri == "-" or (scheme == "jsonl" and rest == "-"):
        return "stdout"
    if scheme in ("jsonl", "sqlite", "parquet") and rest:
        return rest
    if scheme in ("postgresql", "postgres") and rest.startswith("//"):
        from crawler.sinks.postgres_uri import describe_postgres

        return describe_postgres(uri)
    return redact_uri(uri)


def plugins() -> dict[str, EntryPoint]:
    """Installed third-party sinks: URI scheme -> entry point."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load(plugin: EntryPoint, uri: str) -> Sink:
    where = f"sink plugin '{plugin.name}' ({plugin.value})"
    try:
        factory = plugin.load()
    except Exception as exc:
        raise ConfigError(f"{where}: cannot load: {type(exc).__name__}: {exc}") from exc
    try:
        sink: Sink = factory(uri)
    except CrawlerError:
        raise
    except Exception as exc:
        raise ConfigError(f"{where}: {type(exc).__name__}: {exc}") from exc
    return sink


def _need(module: str, extra: str) -> None:
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise ConfigError(
            f"the {extra} sink needs {module}: pip install 'ecr-crawler[{extra}]'"
        ) from None


def _usage(uri: str) -> str:
    known = "'-', 'jsonl:PATH', 'sqlite:PATH', 'postgresql://USER@HOST:PORT/DB', 'parquet:DIR'"
    extra = sorted(plugins())
    if extra:
        known += ", or a plugin's " + ", ".join(f"'{name}:...'" for name in extra)
    hint = ""
    if uri.endswith((".jsonl", ".jsonl.gz")):
        hint = f" (did you mean 'jsonl:{uri}'?)"
    elif uri.endswith((".db", ".sqlite", ".sqlite3")):
        hint = f" (did you mean 'sqlite:{uri}'?)"
    return f"use {known}{hint}"
