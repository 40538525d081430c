"""Adaptive rate control: a pacing limiter per (account, region, operation) that learns the
sustainable call rate from throttling responses, as AWS publishes no quota for ECR's reads.

It starts at `initial_rate` and, until the first throttle, adds one call/s per success: the rate
doubles each second while calls go through (slow start, as TCP's). The first throttle halves the
lower of the rate and what AWS has just been admitting (successes over the last second); later
throttles cut it to `beta` of that, and every success adds `increase / rate`, so the rate climbs
by about `increase` calls/s each second, or 5% of the rate when that is less (additive
increase, multiplicative decrease). Growth
comes from successes, not from the clock, so an idle limiter never runs away. Throttles
answering calls booked before the last cut are not news and are ignored, and calls booked
before a cut book again at the new rate, so a burst of throttles cuts the rate once.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import anyio

from crawler.config import RateLimit

WINDOW = 1.0  # seconds of sends, and of successes, that tell the current rates


class AdaptiveRate:
    def __init__(self, policy: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._beta = policy.beta
        self._increase = policy.increase
        self._min_rate = policy.min_rate
        self._clock = clock
        self.rate = policy.initial_rate  # calls per second
        self._slow_start = True
        self._next_slot = 0.0
        self._last_cut = -math.inf
        self._admitted: deque[float] = deque()

    async def acquire(self) -> float:
        """Wait for this call's slot; returns when the slot was booked, for `throttled`. A call
        whose slot was booked before a cut books again at the new rate."""
        while True:
            booked = self._clock()
            delay = self.reserve(booked)
            if delay > 0:
                await anyio.sleep(delay)
            if booked >= self._last_cut:
                return booked

    def reserve(self, now: float) -> float:
        """Book the next slot at the current rate; the delay until it comes."""
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.rate
        return slot - now

    def succeeded(self, now: float) -> None:
        _record(self._admitted, now)
        if self._slow_start:
            self.rate += 1.0
        else:
            # At most 5% a second: a few calls/s over a small quota is a large overshoot.
            self.rate += min(self._increase, self.rate / 20) / self.rate

    def throttled(self, sent_at: float, now: float) -> None:
        if sent_at < self._last_cut:
            return
        _record(self._admitted, now, add=False)
        admitted = _rate(self._admitted, now) or self.rate
        # The first throttle ends a climb that the token bucket's reserve paid for, so what
        # was admitted until then overstates the quota: halve, as TCP leaves slow start.
        factor = 0.5 if self._slow_start else self._beta
        self._slow_start = False
        self.rate = max(self._min_rate, factor * min(self.rate, admitted))
        self._last_cut = now
        # Slots already booked stay booked: moving the next slot back to now would let new
        # calls go out alongside them, a burst right after a throttle.
        self._next_slot = max(self._next_slot, now)


def _record(times: deque[float], now: float, add: bool = True) -> None:
    """Keep the last WINDOW seconds of event times."""
    if add:
        times.append(now)
    while times and times[0] < now - WINDOW:
        times.popleft()


def _rate(times: deque[float], now: float) -> float:
    """Events per second over the window, or over the time since the first of them when that
    is shorter (a scan's first second), but never over less than a quarter of a second."""
    if not times:
        return 0.0
    return len(times) / max(0.25, min(WINDOW, now - times[0]))
