"""The one retry policy: exponential backoff with full jitter around each AWS call (each page),
with botocore's own retries switched off (`total_max_attempts=1` in every client config)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from crawler.config import Retry
from crawler.errors import RetryableError


def retrying(
    policy: Retry,
    before_sleep: Callable[[RetryCallState], None] | None = None,
    on: type[Exception] = RetryableError,
) -> AsyncRetrying:
    """Retry errors of type `on` until `max_attempts` or `max_wait_seconds`, then reraise."""
    return AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_wait_seconds),
        wait=wait_random_exponential(
            multiplier=policy.base_delay_seconds, max=policy.max_delay_seconds
        ),
        retry=retry_if_exception_type(on),
        before_sleep=before_sleep,
        sleep=anyio.sleep,
        reraise=True,
    )
