"""Per (account, region, operation) token buckets: the quotas AWS enforces but does not
publish for ECR's read calls. A call that finds its bucket empty is throttled. A quota with a
`background` has another client drawing on the same bucket at that average rate, at random
times (seeded), ahead of each call of ours that comes after them: AWS's quotas are per
account-region, shared by every caller in it."""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable

from bench.simulator.scenario import Quota, Scenario


class _Bucket:
    __slots__ = ("background", "capacity", "next_background", "random", "rate", "stamp", "tokens")

    def __init__(self, quota: Quota, now: float, seed: int) -> None:
        self.rate = quota.rate
        self.capacity = quota.capacity
        self.tokens = self.capacity  # a bucket starts full, like an idle account's
        self.stamp = now
        self.background = quota.background
        self.random = random.Random(seed)
        self.next_background = now + self._gap()

    def _gap(self) -> float:
        return self.random.expovariate(self.background) if self.background else float("inf")

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> tuple[bool, int, int]:
        """Spend one token for our call; whether it went through, and how many calls the
        other client made, and had throttled, since the last call."""
        made = throttled = 0
        while self.next_background <= now:
            self._refill(self.next_background)
            made += 1
            if self.tokens >= 1.0:
                self.tokens -= 1.0
            else:
                throttled += 1
            self.next_background += self._gap()
        self._refill(now)
        if self.tokens < 1.0:
            return False, made, throttled
        self.tokens -= 1.0
        return True, made, throttled


class Quotas:
    def __init__(self, scenario: Scenario, clock: Callable[[], float] = time.monotonic) -> None:
        self._scenario = scenario
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], _Bucket | None] = {}
        # The other clients' calls and throttles, over every bucket, since the last reset.
        self.background_calls = 0
        self.background_throttled = 0

    def take(self, account: str, region: str, operation: str) -> bool:
        """Spend one token of the call's bucket; False when the call is over quota."""
        key = (account, region, operation)
        now = self._clock()
        try:
            bucket = self._buckets[key]
        except KeyError:
            quota = self._scenario.quota(operation)
            seed = zlib.crc32(repr((self._scenario.seed, *key)).encode())
            bucket = self._buckets[key] = None if quota is None else _Bucket(quota, now, seed)
        if bucket is None:
            return True
        ok, made, throttled = bucket.take(now)
        self.background_calls += made
        self.background_throttled += throttled
        return ok

    def reset(self) -> None:
        """Every bucket full again (between two measured runs)."""
        self._buckets.clear()
        self.background_calls = self.background_throttled = 0
