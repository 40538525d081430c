"""AWS-style pagination: maxResults checked like ECR checks it, and opaque nextTokens bound to
the listing they came from, so that a token from another listing (or a made-up one) is an
InvalidParameterException, as in ECR."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from bench.simulator.wire import ApiError, invalid_parameter

DEFAULT_PAGE = 100  # what ECR returns when maxResults is not given
MAX_PAGE = 1000
INVALID_TOKEN = "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'"


class Pager:
    """Page sizes and tokens for one simulator (tokens are signed with its secret)."""

    def __init__(self, secret: bytes, page_cap: int | None) -> None:
        self._secret = secret
        self._cap = page_cap or MAX_PAGE

    def page_size(self, payload: dict[str, Any]) -> int:
        size = payload.get("maxResults")
        if size is None:
            return min(DEFAULT_PAGE, self._cap)
        if type(size) is not int or not 1 <= size <= MAX_PAGE:
            raise invalid_parameter(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                f"'Member must have value between 1 and {MAX_PAGE}'"
            )
        return min(size, self._cap)

    def cap(self, size: int) -> int:
        """`size` within the scenario's page_cap (for listings with their own maxResults)."""
        return min(size, self._cap)

    def token(self, scope: str, cursor: tuple[int, int]) -> str:
        text = f"{cursor[0]}.{cursor[1]}"
        return base64.urlsafe_b64encode(f"{text}.{self._mac(scope, text)}".encode()).decode()

    def cursor(self, scope: str, payload: dict[str, Any]) -> tuple[int, int]:
        """Where the listing resumes: (0, 0) without a token; a bad token is an ApiError."""
        token = payload.get("nextToken")
        if token is None:
            return 0, 0
        try:
            first, second, mac = base64.urlsafe_b64decode(token.encode()).decode().split(".")
            cursor = int(first), int(second)
        except (AttributeError, ValueError, UnicodeDecodeError):
            raise _bad_token() from None
        if mac != self._mac(scope, f"{first}.{second}") or min(cursor) < 0:
            raise _bad_token()
        return cursor

    def _mac(self, scope: str, text: str) -> str:
        data = f"{scope}|{text}".encode()
        return hashlib.blake2b(data, key=self._secret, digest_size=8).hexdigest()


def _bad_token() -> ApiError:
    return invalid_parameter(INVALID_TOKEN)
