"""The adaptive rate limiter, driven on a virtual clock against a modelled AWS token bucket."""

from __future__ import annotations

import pytest

from crawler.aws.ratelimit import AdaptiveRate
from crawler.config import RateLimit


class Quota:
    """AWS's side: a token bucket refilling at `rate` per second, holding at most `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, 0.0

    def admit(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def drive(
    quota: Quota, seconds: float, latency: float = 0.04, callers: int = 16
) -> list[tuple[float, bool]]:
    """`callers` tasks calling back to back through one limiter, in virtual time."""
    limiter = AdaptiveRate(RateLimit(), clock=lambda: 0.0)
    ready = [0.0] * callers  # when each caller may send its next call
    log = []
    while min(ready) < seconds:
        caller = ready.index(min(ready))
        now = ready[caller]
        sent = now + limiter.reserve(now)
        ok = quota.admit(sent)
        answered = sent + latency
        if ok:
            limiter.succeeded(answered)
        else:
            limiter.throttled(sent, answered)
        log.append((sent, ok))
        ready[caller] = answered
    return log


@pytest.mark.parametrize("quota", [10, 20, 50, 200])
def test_learns_an_unknown_quota_and_stays_near_it(quota: int) -> None:
    """After learning, the admitted rate stays within 85-105% of a quota it was never told,
    and fewer than 5% of calls are throttled."""
    log = drive(Quota(rate=quota, burst=quota), seconds=120)
    late = [(t, ok) for t, ok in log if t >= 30]
    admitted = sum(ok for _, ok in late) / 90
    throttled = sum(not ok for _, ok in late) / len(late)
    assert 0.85 * quota <= admitted <= 1.05 * quota
    assert throttled < 0.05


def test_a_burst_of_throttles_cuts_the_rate_once() -> None:
    """The first throttle halves what AWS was admitting; throttles answering calls booked
    before that cut do not cut again."""
    limiter = AdaptiveRate(RateLimit(), clock=lambda: 0.0)
    for i in range(100):
        limiter.succeeded(i * 0.01)  # AWS admitted 100 calls/s
    limiter.throttled(sent_at=0.98, now=1.0)
    after_first = limiter.rate
    for sent in (0.985, 0.99, 0.995):
        limiter.throttled(sent_at=sent, now=1.01)
    assert limiter.rate == after_first
    assert 45 <= after_first <= 55


def test_slow_start_doubles_the_rate_each_second_of_successes() -> None:
    """Before any throttle the rate starts at initial_rate and grows by one call/s per
    success, so it doubles each second the calls go through; calls are paced meanwhile."""
    limiter = AdaptiveRate(RateLimit(initial_rate=20), clock=lambda: 0.0)
    delays = [limiter.reserve(0.0) for _ in range(5)]
    assert delays == pytest.approx([0, 0.05, 0.1, 0.15, 0.2])
    for _ in range(20):
        limiter.succeeded(1.0)
    assert limiter.rate == 40


def test_rate_grows_with_successes_not_with_idle_time() -> None:
    """After a cut, an idle limiter keeps its rate; successes raise it a little each."""
    limiter = AdaptiveRate(RateLimit(), clock=lambda: 0.0)
    for i in range(20):
        limiter.succeeded(i * 0.05)  # 20 calls/s admitted
    limiter.throttled(sent_at=0.95, now=1.0)
    cut = limiter.rate
    limiter.reserve(100.0)  # a long pause, then one call
    assert limiter.rate == cut
    for _ in range(10):
        limiter.succeeded(101.0)
    assert cut < limiter.rate < cut + 1
