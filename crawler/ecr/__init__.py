"""One module per ECR resource; each is an async generator of typed records."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: datetime | None) -> datetime | None:
    """botocore parses timestamps into local time; records carry UTC."""
    return value.astimezone(UTC) if value is not None else None
