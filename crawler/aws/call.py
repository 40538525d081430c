"""The one way to call AWS. Every call of every client (ECR, STS, Organizations) goes through
`Caller.call`: paced by the adaptive rate of its operation, held in its limiters, retried with
tenacity (botocore's own retries are off), and its errors translated into our tree. Only a
throttle is reported to the rate: 5xx, resets and timeouts say nothing of a quota."""

from __future__ import annotations

import platform
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiobotocore
import anyio
import botocore
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from tenacity import RetryCallState

from crawler import __version__
from crawler.aws.errors import translate
from crawler.aws.ratelimit import AdaptiveRate
from crawler.aws.retry import retrying
from crawler.config import Config, RateLimit
from crawler.errors import ConfigError, RetryableError, ThrottledError

log = structlog.get_logger(__name__)
# botocore rebuilds and sanitises its structured User-Agent twice per request (a tenth of a
# manifest scan's CPU); a string given in the client config is sent as it is.
USER_AGENT = (
    f"ecr-crawler/{__version__} aiobotocore/{aiobotocore.__version__} "
    f"botocore/{botocore.__version__} Python/{platform.python_version()}"
)


@dataclass
class CallStats:
    """Counters of one scan's API traffic, shared by all its clients."""

    api_calls: int = 0
    retries: int = 0
    throttled: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)


def client_config(config: Config, pool_size: int = 10) -> AioConfig:
    """Client settings shared by every client; retries are ours (tenacity), not botocore's.
    Our parameters are built by code, not typed by users, and AWS validates them again:
    botocore's client-side validation cost a tenth of a scan's CPU."""
    return AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        parameter_validation=False,
        connect_timeout=config.timeouts.connect_seconds,
        read_timeout=config.timeouts.read_seconds,
        max_pool_connections=pool_size,
        user_agent=USER_AGENT,
    )


@asynccontextmanager
async def open_client(
    session: AioSession, service: str, region: str, config: Config, pool_size: int = 10
) -> AsyncIterator[Any]:
    """A botocore client of `service`; a bad region, endpoint or AWS configuration raises our
    ConfigError (or CredentialsError) here, before any call."""
    # Typed per service by types-aiobotocore's overloads, which a variable name cannot match.
    create: Any = session.create_client
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(
                create(
                    service,
                    region_name=region,
                    endpoint_url=config.endpoint_url,
                    config=client_config(config, pool_size),
                )
            )
        except BotoCoreError as exc:
            raise translate(exc) from None
        except ValueError as exc:  # botocore's "Invalid endpoint: ..."
            variable = f"AWS_ENDPOINT_URL_{service.upper()}"
            raise ConfigError(
                f"{exc}: endpoint_url, AWS_ENDPOINT_URL and {variable} must be URLs such as "
                f"https://{service}.us-east-1.amazonaws.com"
            ) from None
        yield client


class Caller:
    """Calls one botocore client. `retry_on` narrows what is retried (STS and Organizations
    retry only throttling: a bad endpoint at start should be reported at once)."""

    def __init__(
        self,
        client: Any,
        config: Config,
        *,
        retry_on: type[Exception] = RetryableError,
        stats: CallStats | None = None,
        limits: Sequence[anyio.CapacityLimiter] = (),
        rate_limit: RateLimit | None = None,
        limiter: Callable[[str], AdaptiveRate] | None = None,
    ) -> None:
        """`rate_limit` paces each operation with a limiter of its own, made by `limiter`
        (the scan's `RateBook`, which starts it from what the scan learned) if given."""
        self._client = client
        self._stats = stats or CallStats()
        self._limits = limits
        self._retrying = retrying(config.retry, before_sleep=self._before_retry, on=retry_on)
        self._limiter: Callable[[str], AdaptiveRate] | None = None
        if rate_limit is not None and rate_limit.adaptive:
            self._limiter = limiter or (lambda operation: AdaptiveRate(rate_limit))
        # AWS's limits are per account-region and operation: one rate per operation.
        self._rates: dict[str, AdaptiveRate] = {}
        self.api_names: dict[str, str] = client.meta.method_to_api_mapping

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call `operation` (botocore's snake_case method name) once, retried as configured;
        raises our `AwsError` tree."""
        method = getattr(self._client, operation)
        rate = self._rate(operation)
        async for attempt in self._retrying.copy():
            with attempt:
                sent = await rate.acquire() if rate else 0.0
                reply = await self._send(method, operation, params, rate, sent)
                if rate:
                    rate.succeeded(sent, time.monotonic())
                return reply
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def pages(
        self, operation: str, field: str, token: str = "nextToken", **params: Any
    ) -> AsyncIterator[Any]:
        """The items under `field` of every page; a retried page resumes at its own token."""
        while True:
            page = await self.call(operation, **params)
            for item in page.get(field, []):
                yield item
            if not page.get(token):
                return
            params[token] = page[token]

    async def _send(
        self,
        method: Any,
        operation: str,
        params: dict[str, Any],
        rate: AdaptiveRate | None,
        sent: float,
    ) -> dict[str, Any]:
        async with AsyncExitStack() as held:
            for limit in self._limits:
                await held.enter_async_context(limit)
            self._stats.api_calls += 1
            ops = self._stats.by_operation
            ops[operation] = ops.get(operation, 0) + 1
            try:
                reply: dict[str, Any] = await method(**params)
            except (ClientError, BotoCoreError, ResponseParserError) as exc:
                error = translate(exc, self.api_names.get(operation, operation))
                if isinstance(error, ThrottledError):
                    self._stats.throttled += 1
                    if rate:
                        rate.throttled(sent, time.monotonic())
                raise error from None
            return reply

    def _rate(self, operation: str) -> AdaptiveRate | None:
        if self._limiter is None:
            return None
        if operation not in self._rates:
            self._rates[operation] = self._limiter(operation)
        return self._rates[operation]

    def _before_retry(self, state: RetryCallState) -> None:
        self._stats.retries += 1
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.debug(
            "retrying",
            error=str(error),
            attempt=state.attempt_number,
            sleep=round(state.upcoming_sleep, 3),
        )
