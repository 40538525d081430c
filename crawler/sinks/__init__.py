"""Where records go. A sink knows records, never AWS: `write` a batch, `aclose` at the end.

A sink that sees the `scan_summary` record knows the scan finished; closing without it means
the scan was interrupted or failed, and the sink keeps what it has under a name that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crawler.errors import ConfigError
from crawler.records import ScanRecord


class Sink(Protocol):
    async def write(self, batch: Sequence[ScanRecord]) -> None: ...

    async def aclose(self) -> None: ...


def open_sink(uri: str) -> Sink:
    """The sink for a URI: "-" or "jsonl:-" (stdout), "jsonl:PATH" (".gz" compresses)."""
    from crawler.sinks.jsonl import JsonlSink

    scheme, sep, rest = uri.partition(":")
    if uri == "-":
        return JsonlSink(None)
    if sep and scheme == "jsonl" and rest:
        return JsonlSink(None if rest == "-" else rest)
    hint = f" (did you mean 'jsonl:{uri}'?)" if uri.endswith((".jsonl", ".jsonl.gz")) else ""
    raise ConfigError(f"sink '{uri}': not a sink URI; use '-' or 'jsonl:PATH'{hint}")
