"""One ECR client per account-region: every call goes through `RegionClient.call`, which
holds the account-region's call limiter, retries with tenacity and translates errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
import structlog
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from botocore.utils import parse_timestamp as botocore_timestamp
from tenacity import RetryCallState

from crawler.aws.errors import translate
from crawler.aws.ratelimit import AdaptiveRate
from crawler.aws.retry import retrying
from crawler.aws.session import client_config
from crawler.config import Config
from crawler.errors import ConfigError, ThrottledError

log = structlog.get_logger(__name__)


@dataclass
class CallStats:
    """Counters of one scan's API traffic, shared by all its clients."""

    api_calls: int = 0
    retries: int = 0
    throttled: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)


class RegionClient:
    """An ECR client for one account-region with its own limit on calls in flight."""

    def __init__(
        self,
        client: Any,
        config: Config,
        account_id: str,
        region: str,
        stats: CallStats,
        total: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self._client = client
        self._stats = stats
        self._limiter = anyio.CapacityLimiter(config.concurrency.api_calls)
        # The whole scan's cap on calls in flight, over all account-regions.
        self._total = total or anyio.CapacityLimiter(config.concurrency.api_calls_total)
        self._api_names: dict[str, str] = client.meta.method_to_api_mapping
        self._retrying = retrying(config.retry, before_sleep=self._before_retry)
        self._rate_limit = config.rate_limit
        # Shared by every task of this account-region: AWS's limits are per account-region
        # and operation.
        self._rates: dict[str, AdaptiveRate] = {}
        self._decoders: set[str] = set()

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call `operation` (botocore's snake_case method name) once, retried on throttling,
        5xx and network errors; raises our `AwsError` tree."""
        method = getattr(self._client, operation)
        rate = self._rate(operation)
        async for attempt in self._retrying.copy():
            with attempt:
                sent = await rate.acquire() if rate else 0.0
                async with self._limiter, self._total:
                    self._stats.api_calls += 1
                    ops = self._stats.by_operation
                    ops[operation] = ops.get(operation, 0) + 1
                    try:
                        reply: dict[str, Any] = await method(**params)
                    except (ClientError, BotoCoreError, ResponseParserError) as exc:
                        error = translate(exc, self._api_names.get(operation, operation))
                        if isinstance(error, ThrottledError):
                            self._stats.throttled += 1
                            if rate:
                                rate.throttled(sent, time.monotonic())
                        raise error from None
                if rate:
                    rate.succeeded(time.monotonic())
                return reply
        raise AssertionError("unreachable: tenacity reraises the last error")

    def decode_with(self, operation: str, decoder: msgspec.json.Decoder[Any]) -> None:
        """Have `operation`'s successful answers decoded by `decoder` (typed, msgspec) instead
        of botocore's parser, which costs more than all the rest of a scan; `call` then returns
        {"decoded": <the decoded page>}. A body the decoder rejects is retried, as any bad
        answer is."""
        api = self._api_names[operation]
        if api in self._decoders:
            return
        self._decoders.add(api)

        def decode(
            response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
        ) -> None:
            if response_dict["status_code"] >= 300:
                return
            try:
                customized_response_dict["decoded"] = decoder.decode(response_dict["body"])
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ResponseParserError(f"{api}: the answer does not decode: {exc}") from None
            response_dict["body"] = b"{}"

        self._client.meta.events.register(f"before-parse.ecr.{api}", decode)

    def _rate(self, operation: str) -> AdaptiveRate | None:
        if not self._rate_limit.adaptive:
            return None
        if operation not in self._rates:
            self._rates[operation] = AdaptiveRate(self._rate_limit)
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


@asynccontextmanager
async def open_region_client(
    session: AioSession,
    config: Config,
    account_id: str,
    region: str,
    stats: CallStats,
    total: anyio.CapacityLimiter | None = None,
) -> AsyncIterator[RegionClient]:
    """A long-lived ECR client whose connection pool matches the call limit."""
    # botocore turns each epoch timestamp into local time through dateutil's tzlocal, about
    # 50 us apiece and most of the cost of a DescribeImages page; records want UTC anyway.
    session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    async with AsyncExitStack() as stack:
        try:
            creating = session.create_client(
                "ecr",
                region_name=region,
                endpoint_url=config.endpoint_url,
                config=client_config(config, pool_size=config.concurrency.api_calls),
            )
            client = await stack.enter_async_context(creating)
        except BotoCoreError as exc:  # a bad region or AWS configuration
            raise translate(exc) from None
        except ValueError as exc:  # botocore's "Invalid endpoint: ..."
            raise ConfigError(
                f"{exc}: AWS_ENDPOINT_URL_ECR must be a URL such as "
                "https://api.ecr.us-east-1.amazonaws.com"
            ) from None
        client.meta.events.register("before-parse.ecr", check_json_body)
        yield RegionClient(client, config, account_id, region, stats, total)


def parse_timestamp(value: Any) -> datetime:
    """AWS's timestamps as aware UTC datetimes: epoch seconds (JSON protocols) the fast way,
    anything else (ISO 8601 strings) through botocore."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return botocore_timestamp(value).astimezone(UTC)


def check_json_body(response_dict: dict[str, Any], **_: Any) -> None:
    """A 200 answer whose body is not a JSON object (cut short, or a proxy's HTML page) is a
    retryable error: botocore would parse it as an empty answer, silently losing a page."""
    if response_dict["status_code"] >= 300:
        return
    body = response_dict["body"]
    try:
        ok = isinstance(msgspec.json.decode(body), dict)
    except msgspec.DecodeError:
        ok = False
    if not ok:
        raise ResponseParserError(f"the answer is not a JSON object: {bytes(body[:60])!r}")
