"""One module per ECR resource; each turns AWS's answers into typed records."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from crawler.aws.client import RegionClient
from crawler.errors import AccessDeniedError, AwsError, NotFoundError


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


class Optional:
    """The optional calls of one registry or repository, whose failure must not fail the scan:
    "not found" answers {} (it is data), any other failure answers None and is kept in
    `errors` for the stage to yield as an error record. An operation denied once is not asked
    again: asking for every image would only repeat the denial."""

    def __init__(self, client: RegionClient) -> None:
        self.client = client
        self.errors: list[AwsError] = []

    def denied(self, operation: str) -> bool:
        api = self.client.api_names.get(operation, operation)
        return any(isinstance(e, AccessDeniedError) and e.operation == api for e in self.errors)

    async def call(self, operation: str, **params: Any) -> dict[str, Any] | None:
        if self.denied(operation):
            return None
        try:
            return await self.client.call(operation, **params)
        except NotFoundError:
            return {}
        except AwsError as exc:
            self.failed(exc)
            return None

    def failed(self, exc: AwsError) -> None:
        # Calls in flight together are denied together: one error says it.
        if not (isinstance(exc, AccessDeniedError) and self.denied(exc.operation)):
            self.errors.append(exc)

    async def pages(self, operation: str, field: str, **params: Any) -> list[Any] | None:
        """The items of every page, or None when a page failed."""
        items: list[Any] = []
        while True:
            page = await self.call(operation, **params)
            if page is None:
                return None
            items += page.get(field, [])
            if not page.get("nextToken"):
                return items
            params["nextToken"] = page["nextToken"]
