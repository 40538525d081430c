"""Adaptive rate control: a pacing limiter per (account, region, operation) that learns the
sustainable call rate from throttling responses, as AWS publishes no quota for ECR's reads.

Until the first throttle it does nothing (the call limit bounds concurrency). A throttle sets
the rate to `beta` times the rate that was sent, then the rate grows back along a cubic curve
(CUBIC, as in botocore's adaptive retry mode): fast while far below the rate that was
throttled, flat near it, probing beyond it only slowly. Throttles answering calls sent before
the last cut are not news and are ignored, so a burst of them cuts the rate once, not N times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio

from crawler.config import RateLimit


class AdaptiveRate:
    def __init__(self, policy: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._beta = policy.beta
        self._scale = policy.scale
        self._min_rate = policy.min_rate
        self._clock = clock
        self.rate = math.inf  # calls per second; inf until the first throttle
        self._next_slot = 0.0
        self._last_cut = -math.inf
        self._max_rate = 0.0  # the rate that was throttled
        self._k = 0.0  # seconds after a cut at which the curve is back at _max_rate
        # Sent rate, measured over half-second buckets and smoothed.
        self._bucket_start = clock()
        self._bucket_count = 0
        self.measured = 0.0

    async def acquire(self) -> float:
        """Wait for this call's slot; returns the time it was sent, for `throttled`."""
        now = self._clock()
        delay = self.reserve(now)
        if delay > 0:
            await anyio.sleep(delay)
            now += delay
        return now

    def reserve(self, now: float) -> float:
        """Book the next slot at the current rate; the delay until it comes."""
        self._measure(now)
        if math.isinf(self.rate):
            return 0.0
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.rate
        return slot - now

    def succeeded(self, now: float) -> None:
        if math.isinf(self.rate):
            return
        grown = self._scale * (now - self._last_cut - self._k) ** 3 + self._max_rate
        # Never more than twice what is actually sent: an idle limiter must not run away.
        self.rate = max(self._min_rate, min(grown, 2 * max(self.measured, self._min_rate)))

    def throttled(self, sent_at: float, now: float) -> None:
        if sent_at < self._last_cut:
            return
        sending = self.measured if math.isinf(self.rate) else min(self.measured, self.rate)
        self._max_rate = max(sending, self._min_rate)
        self._k = (self._max_rate * (1 - self._beta) / self._scale) ** (1 / 3)
        self._last_cut = now
        self.rate = max(self._min_rate, self._max_rate * self._beta)
        self._next_slot = now + 1.0 / self.rate

    def _measure(self, now: float) -> None:
        self._bucket_count += 1
        elapsed = now - self._bucket_start
        if elapsed >= 0.5:
            current = self._bucket_count / elapsed
            self.measured = current if self.measured == 0 else 0.8 * current + 0.2 * self.measured
            self._bucket_start, self._bucket_count = now, 0
