"""One ECR client per account-region: a `Caller` with the account-region's own limit on calls in
flight and the scan's, and typed decoders for the answers the scan reads most."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import msgspec
from aiobotocore.session import AioSession
from botocore.parsers import ResponseParserError

from crawler.aws.call import Caller, CallStats, open_client
from crawler.aws.rates import RateBook
from crawler.config import Config

# operation (botocore's method name) -> the decoder of its successful answers
Decoders = Mapping[str, msgspec.json.Decoder[Any]]


@dataclass(frozen=True)
class Shared:
    """What the account-region clients of one scan share: the counters of its calls, its cap
    on calls in flight over all account-regions, and what it learned of the quotas."""

    stats: CallStats
    total: anyio.CapacityLimiter
    rates: RateBook

    @classmethod
    def of(cls, config: Config, stats: CallStats) -> Shared:
        """A scan's, or a lone client's."""
        total = anyio.CapacityLimiter(config.concurrency.api_calls_total)
        return cls(stats, total, RateBook(config.rate_limit))


class RegionClient(Caller):
    """An ECR `Caller` for one account-region."""

    def __init__(
        self, client: Any, config: Config, account_id: str, region: str, shared: Shared
    ) -> None:
        rates, endpoint = shared.rates, str(client.meta.endpoint_url)
        super().__init__(
            client,
            config,
            stats=shared.stats,
            limits=(anyio.CapacityLimiter(config.concurrency.api_calls), shared.total),
            rate_limit=config.rate_limit,
            limiter=partial(rates.limiter, endpoint, region),
        )
        self.account_id = account_id
        self.region = region


@asynccontextmanager
async def open_region_client(
    session: AioSession,
    config: Config,
    account_id: str,
    region: str,
    shared: Shared | CallStats,
    decoders: Decoders | None = None,
) -> AsyncIterator[RegionClient]:
    """A long-lived ECR client whose connection pool matches the call limit. The answers of
    the operations in `decoders` are decoded by msgspec (see `_decode_with`); `call` returns
    {"decoded": <the decoded answer>} for them. Its rates start from what the scan learned
    (`shared.rates`) and teach it. Leaving closes the client and its connections."""
    if isinstance(shared, CallStats):
        shared = Shared.of(config, shared)
    async with open_client(session, "ecr", region, config, config.concurrency.api_calls) as client:
        decoded = {client.meta.method_to_api_mapping[op] for op in decoders or {}}
        client.meta.events.register("before-parse.ecr", partial(check_json_body, decoded))
        for operation, decoder in (decoders or {}).items():
            _decode_with(client, client.meta.method_to_api_mapping[operation], decoder)
        yield RegionClient(client, config, account_id, region, shared)


def _decode_with(client: Any, api: str, decoder: msgspec.json.Decoder[Any]) -> None:
    """Decode `api`'s successful answers with `decoder` (typed, msgspec) instead of botocore's
    parser, which costs more than all the rest of a scan. A body the decoder rejects is
    retried, as any bad answer is."""

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

    client.meta.events.register(f"before-parse.ecr.{api}", decode)


def check_json_body(
    decoded: set[str], response_dict: dict[str, Any], operation_model: Any, **_: Any
) -> None:
    """A 200 answer whose body is not a JSON object (cut short, or a proxy's HTML page) is a
    retryable error: botocore would parse it as an empty answer, silently losing a page. The
    answers decoded into structs are checked by their decoder."""
    if response_dict["status_code"] >= 300 or operation_model.name in decoded:
        return
    body = response_dict["body"]
    try:
        ok = isinstance(msgspec.json.decode(body), dict)
    except msgspec.DecodeError:
        ok = False
    if not ok:
        raise ResponseParserError(f"the answer is not a JSON object: {bytes(body[:60])!r}")
