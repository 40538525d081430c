"""Rate-control designs on a virtual clock: the scenarios of issue 15, every candidate, one table.

    python -m bench.ratesim            # the table: means of 3 seeds (about 20 s of CPU)
    python -m bench.ratesim --seeds 5  # more seeds per cell

AWS's side is modelled per call: a token bucket (rate, burst, optionally another client
taking `background` calls/s from it at a steady pace, optionally a rate that changes at a
given second) and random throttles with a fixed probability (other callers draining a shared
quota, whatever our rate). The crawler's side is `callers` tasks calling back to back through
one limiter, each call answered `latency` seconds after it was sent; a throttled call is
retried with the crawler's backoff (full jitter, 0.25 s doubling, the retry booking a slot
again). Nothing sleeps: events are processed in time order.

tests/test_ratelimit.py drives the crawler's limiter through the same harness.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from crawler.aws.ratelimit import AdaptiveRate
from crawler.aws.rates import RateBook
from crawler.config import RateLimit


class Limiter(Protocol):
    rate: float

    def reserve(self, now: float) -> float: ...
    def succeeded(self, sent_at: float, now: float) -> None: ...
    def throttled(self, sent_at: float, now: float) -> None: ...


# -- AWS's side -------------------------------------------------------------------------------


@dataclass
class Bucket:
    """A token bucket that starts full; another client takes tokens at `background` calls/s
    on average (arrivals at random: many callers); from second `drop_at` on it refills at
    `dropped_rate`."""

    rate: float
    burst: float | None = None
    background: float = 0.0
    drop_at: float = math.inf
    dropped_rate: float = 0.0
    tokens: float = field(init=False)
    at: float = 0.0
    next_background: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    background_calls: int = 0
    background_throttled: int = 0

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return self.burst if self.burst is not None else self.rate

    def _refill(self, until: float) -> None:
        while self.at < until:
            step = min(until, self.drop_at) if self.at < self.drop_at else until
            rate = self.rate if self.at < self.drop_at else self.dropped_rate
            self.tokens = min(self.capacity, self.tokens + (step - self.at) * rate)
            self.at = step

    def admit(self, now: float) -> bool:
        if self.background:
            while self.next_background <= now:
                self._refill(self.next_background)
                self.background_calls += 1
                if self.tokens >= 1:
                    self.tokens -= 1
                else:
                    self.background_throttled += 1
                self.next_background += self.rng.expovariate(self.background)
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Aws:
    """One account-region's operation: random throttles first, then the bucket, if any."""

    bucket: Bucket | None = None
    noise: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def admit(self, now: float) -> bool:
        if self.noise and self.rng.random() < self.noise:
            return False
        return self.bucket.admit(now) if self.bucket is not None else True


# -- the crawler's side -----------------------------------------------------------------------


@dataclass
class Outcome:
    sent: float
    ok: bool


@dataclass
class Unit:
    """One account-region's operation: its AWS side, its limiter (made when it starts, so that
    a shared prior gives what was learned by then), `callers` tasks from second `start` on,
    until `calls` calls went through (or forever)."""

    aws: Aws
    limiter: Callable[[], Limiter]
    start: float = 0.0
    calls: int | None = None
    callers: int = 16
    log: list[Outcome] = field(default_factory=list)


def drive(
    limiter: Limiter,
    aws: Aws,
    seconds: float,
    *,
    latency: float = 0.04,
    callers: int = 16,
    seed: int = 0,
) -> list[Outcome]:
    """`callers` tasks calling through `limiter` until `seconds`; every attempt's outcome, in
    the order sent."""
    unit = Unit(aws, lambda: limiter, callers=callers)
    drive_units([unit], seconds, latency=latency, seed=seed)
    return unit.log


def drive_units(
    units: Sequence[Unit], seconds: float, *, latency: float = 0.04, seed: int = 0
) -> None:
    """Every unit's callers, in virtual time, until `seconds` or until each unit is done;
    each attempt's outcome goes to its unit's log."""
    rng = random.Random(seed)
    limiters: list[Limiter | None] = [None] * len(units)
    done = [0] * len(units)
    # (when, unit, caller, attempt, booked): a caller ready to book a slot at `when`.
    ready = [(u.start, n, i, 0, -1.0) for n, u in enumerate(units) for i in range(u.callers)]
    heapq.heapify(ready)
    while ready:
        now, n, caller, attempt, booked = heapq.heappop(ready)
        unit = units[n]
        if now >= seconds or (unit.calls is not None and done[n] >= unit.calls):
            continue
        limiter = limiters[n] = limiters[n] or unit.limiter()
        if booked < 0:  # book a slot; the call goes when it comes
            delay = limiter.reserve(now)
            heapq.heappush(ready, (now + delay, n, caller, attempt, now))
            continue
        if booked < getattr(limiter, "_last_cut", -math.inf):  # booked before a cut: again
            heapq.heappush(ready, (now, n, caller, attempt, -1.0))
            continue
        ok = unit.aws.admit(now)
        answered = now + latency
        unit.log.append(Outcome(now, ok))
        if ok:
            limiter.succeeded(booked, answered)
            done[n] += 1
            heapq.heappush(ready, (answered, n, caller, 0, -1.0))
        else:
            limiter.throttled(booked, answered)
            backoff = rng.uniform(0, min(20.0, 0.25 * 2 ** min(attempt, 10)))
            heapq.heappush(ready, (answered + backoff, n, caller, attempt + 1, -1.0))


def measure(log: Sequence[Outcome], since: float, until: float) -> tuple[float, float]:
    """Calls admitted per second and the throttled share of calls, between two seconds."""
    part = [o for o in log if since <= o.sent < until]
    if not part:
        return 0.0, 0.0
    admitted = sum(o.ok for o in part)
    return admitted / (until - since), 1 - admitted / len(part)


# -- the candidate designs --------------------------------------------------------------------


class PerThrottleAimd:
    """The crawler's limiter before issue 15: every throttle (but one per cut) cuts, to half of
    what AWS admitted when leaving slow start, else to 85%; +0.5 calls/s a second, at most 5%."""

    def __init__(self, policy: RateLimit) -> None:
        self.rate = policy.initial_rate
        self._beta, self._increase, self._min = policy.beta, policy.increase, policy.min_rate
        self._slow_start = True
        self._next_slot = 0.0
        self._last_cut = -math.inf
        self._admitted: deque[float] = deque()

    def reserve(self, now: float) -> float:
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.rate
        return slot - now

    def succeeded(self, sent_at: float, now: float) -> None:
        self._admitted.append(now)
        if self._slow_start:
            self.rate += 1.0
        else:
            self.rate += min(self._increase, self.rate / 20) / self.rate

    def throttled(self, sent_at: float, now: float) -> None:
        if sent_at < self._last_cut:
            return
        while self._admitted and self._admitted[0] < now - 1.0:
            self._admitted.popleft()
        admitted = len(self._admitted) / max(0.25, min(1.0, now - (self._admitted or [now])[0]))
        factor = 0.5 if self._slow_start else self._beta
        self._slow_start = False
        self.rate = max(self._min, factor * min(self.rate, admitted or self.rate))
        self._last_cut = now
        self._next_slot = max(self._next_slot, now)


class ShareTolerance(PerThrottleAimd):
    """Cut only when more than `tolerance` of the last second's answers were throttled (at
    most once a second): a fixed allowance for other callers' throttles."""

    def __init__(self, policy: RateLimit, tolerance: float = 0.05) -> None:
        super().__init__(policy)
        self._tolerance = tolerance
        self._answers: deque[tuple[float, bool]] = deque()

    def _share(self, now: float, throttled: bool) -> float:
        self._answers.append((now, throttled))
        while self._answers[0][0] < now - 1.0:
            self._answers.popleft()
        return sum(t for _, t in self._answers) / len(self._answers)

    def succeeded(self, sent_at: float, now: float) -> None:
        self._share(now, False)
        super().succeeded(sent_at, now)

    def throttled(self, sent_at: float, now: float) -> None:
        if self._share(now, True) > self._tolerance and now - self._last_cut >= 1.0:
            super().throttled(sent_at, now)


class Unlimited:
    """No limiter: what the callers make on their own, the reference."""

    rate = math.inf

    def reserve(self, now: float) -> float:
        return 0.0

    def succeeded(self, sent_at: float, now: float) -> None:
        pass

    def throttled(self, sent_at: float, now: float) -> None:
        pass


Design = Callable[[], Limiter]
DESIGNS: dict[str, Design] = {
    "per-throttle": lambda: PerThrottleAimd(RateLimit()),
    "5% tolerated": lambda: ShareTolerance(RateLimit()),
    "noise-aware": lambda: AdaptiveRate(RateLimit(), clock=lambda: 0.0),
}


# -- the scenarios ----------------------------------------------------------------------------


# A scenario's figures from one run: numbers, and how to print their means.
Measure = Callable[[list[Outcome], Aws], tuple[float, ...]]


@dataclass(frozen=True)
class Scenario:
    name: str
    aws: Callable[[int], Aws]  # seed -> AWS's side
    measure: Measure
    form: str  # format of the means, e.g. "{:.2f}, {:.1%}"
    seconds: float = 120.0


def _against(quota: float) -> Measure:
    """Admitted / `quota` and the throttled share, seconds 30-120."""

    def figures(log: list[Outcome], aws: Aws) -> tuple[float, ...]:
        rate, share = measure(log, 30, 120)
        return rate / quota, share

    return figures


def _shared(log: list[Outcome], aws: Aws) -> tuple[float, ...]:
    rate, share = measure(log, 30, 120)
    assert aws.bucket is not None
    theirs = aws.bucket.background_throttled / max(1, aws.bucket.background_calls)
    return rate / 10, share, theirs


def _unthrottled(p: float) -> Measure:
    """Admitted / what the callers make with no limiter at all, same throttles."""
    reference, _ = measure(drive(Unlimited(), Aws(noise=p), 120), 30, 120)

    def figures(log: list[Outcome], aws: Aws) -> tuple[float, ...]:
        return (measure(log, 30, 120)[0] / reference,)

    return figures


def _dropped(log: list[Outcome], aws: Aws) -> tuple[float, ...]:
    rate, share = measure(log, 60, 120)
    return rate / 20, share, measure(log, 70, 120)[1]


def _early(log: list[Outcome], aws: Aws) -> tuple[float, ...]:
    return (measure(log, 0, 10)[0],)


SCENARIOS = [
    *[
        Scenario(
            f"bucket {q}/s: admitted / quota, throttled",
            lambda seed, q=q: Aws(Bucket(q)),
            _against(q),
            "{:.2f}, {:.1%}",
        )
        for q in (10, 20, 50, 200)
    ],
    Scenario(
        "bucket 20/s, other client 10/s: ours / 10, thr. (theirs)",
        lambda seed: Aws(Bucket(20, background=10, rng=random.Random(seed))),
        _shared,
        "{:.2f}, {:.1%} ({:.0%})",
    ),
    *[
        Scenario(
            f"{p:.0%} random throttles: admitted / unlimited",
            lambda seed, p=p: Aws(noise=p, rng=random.Random(seed)),
            _unthrottled(p),
            "{:.2f}",
        )
        for p in (0.02, 0.08, 0.20)
    ],
    Scenario(
        "8% random throttles: calls/s in the first 10 s",
        lambda seed: Aws(noise=0.08, rng=random.Random(seed)),
        _early,
        "{:.0f}",
        seconds=10,
    ),
    Scenario(
        "bucket 50/s, 20/s from 60 s: after / 20, thr. (70 s on)",
        lambda seed: Aws(Bucket(50, drop_at=60, dropped_rate=20)),
        _dropped,
        "{:.2f}, {:.1%} ({:.1%})",
    ),
    Scenario(
        "bucket 20/s, 8% random: admitted / 18.4, throttled",
        lambda seed: Aws(Bucket(20), noise=0.08, rng=random.Random(seed)),
        _against(20 * 0.92),
        "{:.2f}, {:.1%}",
    ),
]


def organisation(design: str, seed: int = 0) -> tuple[float, ...]:
    """60 account-regions of one region, each with its own DescribeImages quota of 2/s (AWS's
    default, the same in every account), starting one after the other over 3 s (roles being
    assumed), each needing 12 calls: the throttled share of all calls, and the mean time an
    account-region took against the 5.04 s its quota allows."""
    rng = random.Random(seed)
    book = RateBook(RateLimit())
    makers: dict[str, Callable[[], Limiter]] = {
        "per-throttle": lambda: PerThrottleAimd(RateLimit()),
        "noise-aware, alone": lambda: AdaptiveRate(RateLimit(), clock=lambda: 0.0),
        "noise-aware, shared prior": lambda: book.limiter("ecr", "us-east-1", "describe_images"),
    }
    units = [
        Unit(Aws(Bucket(2)), makers[design], start=rng.uniform(0, 3), calls=12) for _ in range(60)
    ]
    drive_units(units, 120, seed=seed)
    attempts = sum(len(u.log) for u in units)
    throttled = sum(not o.ok for u in units for o in u.log)
    took = statistics.mean(u.log[-1].sent + 0.04 - u.start for u in units)
    return throttled / attempts, took / 5.04


def _means(runs: list[tuple[float, ...]], form: str) -> str:
    return form.format(*(statistics.mean(column) for column in zip(*runs, strict=True)))


def table(seeds: int) -> str:
    """Every scenario under every design, means over `seeds` seeds, as Markdown."""
    names = list(DESIGNS)
    lines = ["| scenario | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for scenario in SCENARIOS:
        cells = []
        for name in names:
            runs = []
            for seed in range(seeds):
                aws = scenario.aws(seed)
                log = drive(DESIGNS[name](), aws, scenario.seconds, seed=seed)
                runs.append(scenario.measure(log, aws))
            cells.append(_means(runs, scenario.form))
        lines.append(f"| {scenario.name} | " + " | ".join(cells) + " |")
    lines += ["", "| 60 account-regions, 2/s each | " + " | ".join(ORG) + " |"]
    lines.append("|---|" + "---|" * len(ORG))
    cells = [
        _means([organisation(design, seed) for seed in range(seeds)], "{:.1%}, {:.2f}")
        for design in ORG
    ]
    lines.append("| throttled, time / its quota's | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ORG = ("per-throttle", "noise-aware, alone", "noise-aware, shared prior")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ratesim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="runs per cell (default 3)")
    args = parser.parse_args(argv)
    print(table(args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
