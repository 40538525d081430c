"""Per (account, region, operation) token buckets: the quotas AWS enforces but does not
publish for ECR's read calls. A call that finds its bucket empty is throttled."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.simulator.scenario import Quota, Scenario


class _Bucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, quota: Quota, now: float) -> None:
        self.rate = quota.rate
        self.capacity = quota.capacity
        self.tokens = self.capacity  # a bucket starts full, like an idle account's
        self.stamp = now


class Quotas:
    def __init__(self, scenario: Scenario, clock: Callable[[], float] = time.monotonic) -> None:
        self._scenario = scenario
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], _Bucket | None] = {}

    def take(self, account: str, region: str, operation: str) -> bool:
        """Spend one token of the call's bucket; False when the call is over quota."""
        key = (account, region, operation)
        now = self._clock()
        try:
            bucket = self._buckets[key]
        except KeyError:
            quota = self._scenario.quota(operation)
            bucket = self._buckets[key] = None if quota is None else _Bucket(quota, now)
        if bucket is None:
            return True
        bucket.tokens = min(bucket.capacity, bucket.tokens + (now - bucket.stamp) * bucket.rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def reset(self) -> None:
        """Every bucket full again (between two measured runs)."""
        self._buckets.clear()
