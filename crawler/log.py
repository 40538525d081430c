"""Logging: structlog to stderr (readable on a terminal, JSON lines otherwise), botocore's own
logs through the same renderer, and secrets redacted from every event."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
SECRET_KEYS = re.compile(r"secret|token|password|authorization|credential", re.IGNORECASE)
# Secrets that botocore's debug logs print inside request headers (any case: the canonical
# request has x-amz-security-token) and response bodies, and a password inside a URI
# (postgresql://user:PASSWORD@host, ?password=...).
SECRET_PATTERNS = re.compile(
    r"(?P<k>(?:SecretAccessKey|SessionToken|authorizationToken|X-Amz-Security-Token)"
    r"['\"]?\s*[>:=,]\s*[b'\"]*)[^<'\"\s,}]+"
    r"|(?P<u>\b[a-z][a-z0-9+.-]*://[^/@\s:'\"]*:)(?!\*\*\*@)[^/@\s'\"]+(?=@)"
    r"|(?P<q>[?&](?:ssl)?password=)[^&\s'\"]+",
    re.IGNORECASE,
)


class Redactor:
    """A structlog processor that removes known secret values and secret-looking fields."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self.add(os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN"))

    def add(self, *secrets: str | None) -> None:
        # Short values would redact ordinary words; real secrets are long.
        self._values.update(s for s in secrets if s and len(s) >= 8)

    def redact(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, REDACTED)
        return SECRET_PATTERNS.sub(lambda m: (m["k"] or m["u"] or m["q"]) + REDACTED, text)

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            event[key] = REDACTED if SECRET_KEYS.search(key) and value else self._clean(value)
        return event

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if value is None or isinstance(value, int | float | bool):
            return value
        return self.redact(str(value))


class _Stderr:
    """sys.stderr looked up at each write, so a live progress display can redirect it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str, fmt: str, redactor: Redactor) -> None:
    """Set up structlog and the stdlib loggers of botocore and friends, once per process."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redactor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redactor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # botocore's debug output (requests, responses, credential lookups) only with debug.
    root.setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
