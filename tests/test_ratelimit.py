"""The adaptive rate limiter, driven on a virtual clock (bench/ratesim.py) against modelled AWS
quotas: a token bucket, one shared with another client, random throttles, a quota that drops."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import anyio
import pytest
from botocore.exceptions import ClientError

from bench.ratesim import Aws, Bucket, Outcome, Unit, Unlimited, drive, drive_units, measure
from crawler.aws.call import Caller
from crawler.aws.ratelimit import AdaptiveRate, Start
from crawler.aws.rates import RateBook
from crawler.config import RateLimit, load_config
from crawler.errors import RetryableError, ThrottledError


def limiter(**policy: Any) -> AdaptiveRate:
    return AdaptiveRate(RateLimit(**policy), clock=lambda: 0.0)


@pytest.mark.parametrize("quota", [10, 20, 50, 200])
def test_learns_an_unknown_quota_and_stays_near_it(quota: int) -> None:
    """After learning, the admitted rate stays within 90-105% of a quota it was never told,
    and at most 3% of calls are throttled."""
    rate, throttled = measure(drive(limiter(), Aws(Bucket(quota)), 120), 30, 120)
    assert 0.9 * quota <= rate <= 1.05 * quota
    assert throttled <= 0.03


@pytest.mark.parametrize("share", [0.02, 0.08, 0.20])
def test_random_throttles_do_not_collapse_the_rate(share: float) -> None:
    """Throttles at a share that does not follow our rate (other callers draining a shared
    quota) leave the rate near what the callers make with no limiter at all."""
    unlimited, _ = measure(drive(Unlimited(), Aws(noise=share), 120), 30, 120)
    rate, _ = measure(drive(limiter(), Aws(noise=share, rng=random.Random(1)), 120), 30, 120)
    assert rate >= 0.75 * unlimited


def test_a_quota_shared_with_another_client() -> None:
    """With another client taking half of a 20/s bucket, the limiter takes about the other
    half: neither collapsing nor starving the other client."""
    aws = Aws(Bucket(20, background=10))
    rate, throttled = measure(drive(limiter(), aws, 120), 30, 120)
    assert aws.bucket is not None
    theirs = aws.bucket.background_throttled / aws.bucket.background_calls
    assert 8 <= rate <= 14
    assert throttled <= 0.15
    assert theirs <= 0.3


def test_a_quota_that_drops_is_followed() -> None:
    """When the quota drops from 50/s to 20/s mid-scan, the rate follows within seconds and
    stays under 3% throttled afterwards."""
    log = drive(limiter(), Aws(Bucket(50, drop_at=60, dropped_rate=20)), 120)
    rate, throttled = measure(log, 70, 120)
    assert 18 <= rate <= 21
    assert throttled <= 0.03


def test_quota_and_noise_together() -> None:
    """A 20/s quota under 8% random throttles: the rate does not collapse to a few calls/s
    on the noise, nor exceed the quota."""
    aws = Aws(Bucket(20), noise=0.08, rng=random.Random(2))
    rate, _ = measure(drive(limiter(), aws, 120), 30, 120)
    assert 8 <= rate <= 21


def test_a_burst_of_throttles_cuts_the_rate_once() -> None:
    """Once a quota was found, a throttle cuts; throttles answering calls booked before that
    cut do not cut again."""
    rate = AdaptiveRate(RateLimit(), clock=lambda: 0.0, start=Start(100.0, found=True))
    for i in range(100):
        rate.succeeded(i * 0.01, i * 0.01 + 0.04)
    rate.throttled(sent_at=1.0, now=1.04)
    after_first = rate.rate
    assert after_first < 100
    for sent in (0.99, 1.0, 1.02):
        rate.throttled(sent_at=sent, now=1.05)
    assert rate.rate == after_first


def test_slow_start_doubles_the_rate_each_second_of_successes() -> None:
    """Before any throttle the rate starts at initial_rate and grows by one call/s per
    success, so it doubles each second the calls go through; calls are paced meanwhile."""
    rate = limiter(initial_rate=20)
    delays = [rate.reserve(0.0) for _ in range(5)]
    assert delays == pytest.approx([0, 0.05, 0.1, 0.15, 0.2])
    for i in range(20):
        rate.succeeded(i * 0.05, i * 0.05 + 0.04)
    assert rate.rate == 40


def test_a_lone_throttle_does_not_end_a_climb() -> None:
    """One throttle in slow start could be anyone's: the climb goes on; a run of them (a
    bucket that ran dry) ends it below what AWS admitted."""
    rate = limiter(initial_rate=20)
    for i in range(30):
        rate.succeeded(i * 0.02, i * 0.02 + 0.04)
    before = rate.rate
    rate.throttled(sent_at=0.6, now=0.64)
    assert (rate.rate, rate.learning) == (before, True)
    for i in range(6):
        rate.throttled(sent_at=0.61 + i * 0.01, now=0.65 + i * 0.01)
    assert not rate.learning
    assert rate.rate < before


def test_rate_grows_only_while_used() -> None:
    """The rate never grows past twice what AWS admitted in the last second: a limiter used
    at 5 calls/s for a minute does not let a sudden burst through at 300."""
    rate = limiter(initial_rate=2)
    for i in range(300):
        rate.succeeded(i * 0.2, i * 0.2 + 0.04)
    assert rate.rate <= 3 * 5


def test_only_throttles_reach_the_limiter() -> None:
    """5xx, resets and timeouts are retried but never cut the rate: they say nothing of a
    quota; a throttle does."""
    retry: dict[str, Any] = {"retry.max_attempts": 2, "retry.base_delay_seconds": 0.001}
    config = load_config(None, **retry)
    codes = iter(["ServerException", "ServerException", "ThrottlingException"] * 2)

    class Client:
        meta = type("Meta", (), {"method_to_api_mapping": {"describe_images": "DescribeImages"}})

        async def describe_images(self) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": next(codes)}}, "DescribeImages")

    found = partial(AdaptiveRate, config.rate_limit, start=Start(20.0, found=True))
    caller = Caller(Client(), config, rate_limit=config.rate_limit, limiter=lambda op: found())
    rate = caller._rate("describe_images")
    assert rate is not None
    start = rate.rate
    with pytest.raises(RetryableError) as raised:
        anyio.run(caller.call, "describe_images")
    assert not isinstance(raised.value, ThrottledError)
    assert rate.rate == start
    with pytest.raises(RetryableError):
        anyio.run(caller.call, "describe_images")
    assert rate.rate < start


def test_an_organisation_learns_each_quota_once() -> None:
    """60 account-regions of one region, each with the same 2/s quota, starting over 3 s:
    sharing what they learn, they are throttled less than half as often as each learning
    alone, and take about the time their quota allows."""

    def throttled(units: list[Unit]) -> float:
        drive_units(units, 120)
        log: list[Outcome] = [o for u in units for o in u.log]
        return sum(not o.ok for o in log) / len(log)

    draw = random.Random(0)
    starts = [draw.uniform(0, 3) for _ in range(60)]
    alone = throttled([Unit(Aws(Bucket(2)), limiter, start=t, calls=12) for t in starts])
    book = RateBook(RateLimit())
    units = [
        Unit(Aws(Bucket(2)), lambda: book.limiter("e", "r", "op"), start=t, calls=12)
        for t in starts
    ]
    shared = throttled(units)
    assert shared < alone / 2
    took = [u.log[-1].sent + 0.04 - u.start for u in units]
    assert sum(took) / len(took) < 1.25 * 5.04


def test_a_new_limiter_starts_from_a_quota_found_elsewhere() -> None:
    """Once one account-region found a quota, a new one of the same region and operation
    starts just under it, probing gently; other regions and operations start afresh."""
    book = RateBook(RateLimit(initial_rate=20))
    first = book.limiter("e", "us-east-1", "describe_images")
    first._listener(8.0, 0.0)  # type: ignore[misc]
    second = book.limiter("e", "us-east-1", "describe_images")
    assert second.rate == pytest.approx(0.97 * 8)
    assert not second.learning
    assert book.limiter("e", "eu-west-1", "describe_images").rate == 20
    assert book.limiter("e", "us-east-1", "describe_repositories").rate == 20


def test_limiters_still_learning_take_a_quota_found_elsewhere() -> None:
    """A limiter in slow start takes the quota another account-region of its region found;
    one that found its own keeps it."""
    book = RateBook(RateLimit(initial_rate=20))
    learning = book.limiter("e", "r", "op")
    finder = book.limiter("e", "r", "op")
    finder._listener(4.0, 0.0)  # type: ignore[misc]
    assert learning.rate == pytest.approx(0.97 * 4)
    assert not learning.learning


def test_start_from_a_known_start() -> None:
    """A limiter given a found quota starts there without slow start; one given a rate
    reached without throttles doubles from it."""
    found = AdaptiveRate(RateLimit(), clock=lambda: 0.0, start=Start(7.0, found=True))
    assert (found.rate, found.learning) == (7.0, False)
    reached = AdaptiveRate(RateLimit(), clock=lambda: 0.0, start=Start(300.0))
    assert (reached.rate, reached.learning) == (300.0, True)
