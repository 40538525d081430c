"""The scan's prior for each operation's rate: AWS's default quotas are the same in every
account of a region, so a new account-region starts from what the other account-regions of the
scan found for that operation in that region, and a scan starts from what the previous scan
found (kept in the cache directory with the time it was learned).

Per (endpoint, region, operation) the book keeps the latest quota estimate (what AWS
admitted over a second, at a cut) of the last 9 account-regions that measured one. A new
limiter starts at 0.97 x their median, just under the quota, probing above it gently; while
none has measured one yet, at the median rate that account-regions already cut were cut to
(nearer the quota than a climb would start); with neither, from what the previous scan
learned; with nothing at all, at `rate_limit.initial_rate`. Limiters that have not measured
a quota of their own take one as soon as another account-region of their region measures
it (those still climbing also take the rate the others were cut to), instead of finding it
themselves at the price of their own throttles. At the end of a scan the book keeps, per
operation and region, the median quota, or the highest rate reached without a throttle.

A rate remembered from an earlier scan moves back towards `initial_rate` (geometrically) by
half every `rate_limit.prior_half_life_hours`; a quota remembered from longer ago than one
half-life is only a starting point, doubled from like any other.
"""

from __future__ import annotations

import math
import os
import statistics
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import msgspec
import structlog

from crawler.aws.ratelimit import AdaptiveRate, Start
from crawler.config import RateLimit

log = structlog.get_logger(__name__)

FILE = "rates.json"
KEPT = 9  # limiters per operation and region whose latest quota estimates give the prior
UNDER = 0.97  # start just under the quota found, as a limiter recovering from a cut does

Key = tuple[str, str, str]  # endpoint, region, operation (botocore's method name)


class Learned(msgspec.Struct, frozen=True):
    """One operation's rate in one region, as the rates file keeps it."""

    endpoint: str
    region: str
    operation: str
    rate: float
    found: bool  # a quota: the rate at which AWS throttled; else reached without a throttle
    learned_at: datetime


class _File(msgspec.Struct):
    version: int = 1
    rates: list[Learned] = msgspec.field(default_factory=list)


class RateBook:
    """Every limiter of one scan, and what they learned, per endpoint, region and operation."""

    def __init__(
        self,
        policy: RateLimit,
        remembered: list[Learned] | None = None,
        *,
        now: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._found: dict[Key, OrderedDict[int, float]] = {}  # limiter -> its estimate
        self._made = 0
        self._reached: dict[Key, float] = {}
        self._live: dict[Key, weakref.WeakSet[AdaptiveRate]] = {}
        self._before: dict[Key, Start] = {}
        now = now or datetime.now(UTC)
        for item in remembered or []:
            key = (item.endpoint, item.region, item.operation)
            self._before[key] = self._decayed(item, now)

    def limiter(self, endpoint: str, region: str, operation: str) -> AdaptiveRate:
        """A new account-region's limiter for `operation`, started from the prior."""
        if not self._policy.prior:
            return AdaptiveRate(self._policy, clock=self._clock)
        key = (endpoint, region, operation)
        self._made += 1
        rate = AdaptiveRate(
            self._policy,
            clock=self._clock,
            start=self.start(key),
            listener=partial(self._learned, key, self._made),
        )
        self._live.setdefault(key, weakref.WeakSet()).add(rate)
        return rate

    def start(self, key: Key) -> Start | None:
        """This scan's quota; else, while the first account-regions of the region are still
        measuring it, the lowest rate they were cut to (already nearer the quota than a
        climb would start); else what the previous scans learned; None: the default. (A rate
        other limiters merely reached is no start: they may be overshooting.)"""
        if found := self._found.get(key):
            return Start(UNDER * statistics.median(found.values()), found=True)
        cut = [r.rate for r in self._live.get(key, ()) if not r.learning]
        if cut:
            return Start(statistics.median(cut), found=True)
        return self._before.get(key)

    def _learned(self, key: Key, limiter: int, estimate: float | None, now: float) -> None:
        """A limiter was cut: the next ones start from what it found, and the ones that
        found nothing yet in the same region take it at once."""
        if estimate is not None:
            found = self._found.setdefault(key, OrderedDict())
            found[limiter] = estimate  # its latest estimate replaces its earlier ones
            found.move_to_end(limiter)
            if len(found) > KEPT:
                found.popitem(last=False)
        start = self.start(key)
        if start is None:
            return
        for rate in list(self._live.get(key, ())):
            if estimate is not None or rate.learning:
                rate.adopt(start, now)

    def _reach(self, key: Key) -> float:
        """The highest rate a live limiter reached without a single throttle."""
        rates = [r.rate for r in self._live.get(key, ()) if r.unthrottled]
        if rates:
            self._reached[key] = max(self._reached.get(key, 0.0), *rates)
        return self._reached.get(key, 0.0)

    def _decayed(self, item: Learned, now: datetime) -> Start:
        hours = max(0.0, (now - item.learned_at).total_seconds() / 3600)
        weight = 0.5 ** (hours / self._policy.prior_half_life_hours)
        initial = self._policy.initial_rate
        rate = math.exp(weight * math.log(item.rate) + (1 - weight) * math.log(initial))
        return Start(rate, found=item.found and weight >= 0.5)

    def learned(self, now: datetime | None = None) -> list[Learned]:
        """What this scan learned, to remember for the next one."""
        now = now or datetime.now(UTC)
        out = []
        for key in {*self._found, *self._live, *self._reached}:
            found = self._found.get(key)
            reached = self._reach(key)
            if not found and reached <= self._policy.initial_rate:
                continue
            rate = statistics.median(found.values()) if found else reached
            out.append(Learned(*key, rate=rate, found=bool(found), learned_at=now))
        return sorted(out, key=lambda item: (item.endpoint, item.region, item.operation))


def read_rates(directory: Path) -> list[Learned]:
    """The rates kept in `directory`; none if there is no file. Raises OSError or
    msgspec's errors for a file that cannot be read."""
    try:
        return msgspec.json.decode((directory / FILE).read_bytes(), type=_File).rates
    except FileNotFoundError:
        return []


def load_book(policy: RateLimit, directory: Path) -> RateBook:
    """The book of a new scan, from the rates the previous scans left in `directory`; an
    unreadable file is ignored (a cold start), as the rates are only a head start."""
    remembered: list[Learned] = []
    if policy.adaptive and policy.prior:
        try:
            remembered = read_rates(directory)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("learned rates not read", path=str(directory / FILE), error=str(exc))
    return RateBook(policy, remembered)


def save_book(book: RateBook, policy: RateLimit, directory: Path) -> None:
    """Keep what this scan learned, and what earlier scans learned that it did not see
    again, for the next scan; written under a temporary name and renamed, so that a reader
    never sees half a file. A failure is a warning: the scan's records matter, not this."""
    if not (policy.adaptive and policy.prior):
        return
    learned = book.learned()
    fresh = {(r.endpoint, r.region, r.operation) for r in learned}
    try:
        old = read_rates(directory)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        old = []
    kept = [r for r in old if (r.endpoint, r.region, r.operation) not in fresh]
    path = directory / FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(msgspec.json.encode(_File(rates=kept + learned)))
        temporary.replace(path)
    except OSError as exc:
        log.warning("learned rates not kept", path=str(path), error=str(exc))
