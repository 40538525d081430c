"""One module per ECR resource; each turns AWS's answers into typed records."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from crawler.aws.client import RegionClient
from crawler.errors import AwsError, NotFoundError


def utc(value: datetime | None) -> datetime | None:
    """botocore parses timestamps into local time; records carry UTC."""
    return value.astimezone(UTC) if value is not None else None


def snake_keys(value: Any) -> Any:
    """AWS's nested structures under our snake_case names (AWS timestamps become UTC)."""
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): snake_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [snake_keys(item) for item in value]
    if isinstance(value, datetime):
        return utc(value)
    return value


async def optional_call(
    client: RegionClient, failures: list[AwsError], operation: str, **params: Any
) -> dict[str, Any] | None:
    """A call whose failure must not fail the scan: the answer, {} when what it reads does not
    exist ("not found" is data), or None after adding the error to `failures`."""
    try:
        return await client.call(operation, **params)
    except NotFoundError:
        return {}
    except AwsError as exc:
        failures.append(exc)
        return None
