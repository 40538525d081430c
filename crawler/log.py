"""Logging: structlog to stderr (readable on a terminal, JSON lines otherwise), botocore's own
logs through the same renderer, and secrets redacted from every event."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from crawler.secrets import REDACTED, is_secret_key, redact

__all__ = ["REDACTED", "Redactor", "configure"]


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
        return redact(text)

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            event[key] = REDACTED if is_secret_key(key) and value else self._clean(value)
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
