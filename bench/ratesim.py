"""Rate-control designs on a virtual clock: the scenarios of issue 15, every candidate, one table.

    python -m bench.ratesim            # the table (about a minute of CPU)
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
    "per-throttle AIMD (before)": lambda: PerThrottleAimd(RateLimit()),
    "share > 5% over 1 s": lambda: ShareTolerance(RateLimit()),
    "noise-aware (chosen)": lambda: AdaptiveRate(RateLimit(), clock=lambda: 0.0),
}


# -- the scenarios ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    aws: Callable[[int], Aws]  # seed -> AWS's side
    figure: Callable[[list[Outcome], Aws], str]
    seconds: float = 120.0


def _bucket_figure(quota: float) -> Callable[[list[Outcome], Aws], str]:
    def figure(log: list[Outcome], aws: Aws) -> str:
        rate, share = measure(log, 30, 120)
        return f"{rate / quota:.2f}, {share:.1%}"

    return figure


def _shared_figure(log: list[Outcome], aws: Aws) -> str:
    rate, share = measure(log, 30, 120)
    bucket = aws.bucket
    assert bucket is not None
    theirs = bucket.background_throttled / max(1, bucket.background_calls)
    return f"{rate / 10:.2f}, {share:.1%} (theirs {theirs:.0%})"


def _noise_figure(p: float) -> Callable[[list[Outcome], Aws], str]:
    def figure(log: list[Outcome], aws: Aws) -> str:
        rate, _ = measure(log, 30, 120)
        reference, _ = measure(drive(Unlimited(), Aws(noise=p), 120), 30, 120)
        return f"{rate / reference:.2f}"

    return figure


def _drop_figure(log: list[Outcome], aws: Aws) -> str:
    rate, share = measure(log, 60, 120)
    _, settled = measure(log, 70, 120)
    return f"{rate / 20:.2f}, {share:.1%} ({settled:.1%} after 70 s)"


SCENARIOS = [
    Scenario(
        f"token bucket {q}/s: admitted / quota, throttled",
        lambda seed, q=q: Aws(Bucket(q)),
        _bucket_figure(q),
    )
    for q in (10, 20, 50, 200)
] + [
    Scenario(
        "bucket 20/s shared with a client taking 10/s: ours / 10, throttled",
        lambda seed: Aws(Bucket(20, background=10)),
        _shared_figure,
    ),
    *[
        Scenario(
            f"no quota, {p:.0%} random throttles: admitted / unlimited",
            lambda seed, p=p: Aws(noise=p, rng=random.Random(seed)),
            _noise_figure(p),
        )
        for p in (0.02, 0.08, 0.20)
    ],
    Scenario(
        "bucket 50/s dropping to 20/s at 60 s: after / 20, throttled after",
        lambda seed: Aws(Bucket(50, drop_at=60, dropped_rate=20)),
        _drop_figure,
    ),
    Scenario(
        "bucket 20/s with 8% random throttles: admitted / 18.4, throttled",
        lambda seed: Aws(Bucket(20), noise=0.08, rng=random.Random(seed)),
        _bucket_figure(20 * 0.92),
    ),
]


def organisation(design: str, seed: int = 0) -> str:
    """60 account-regions of one region, each with its own DescribeImages quota of 2/s (AWS's
    default, the same in every account), starting one after the other over 3 s (roles being
    assumed), each needing 12 calls: the throttled share of all calls, and the mean time an
    account-region took against the 5.04 s its quota allows."""
    rng = random.Random(seed)
    book = RateBook(RateLimit())
    makers: dict[str, Callable[[], Limiter]] = {
        "per-throttle AIMD (before)": lambda: PerThrottleAimd(RateLimit()),
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
    return f"{throttled / attempts:.1%}, {took / 5.04:.2f}"


def table(seeds: int) -> str:
    names = list(DESIGNS)
    lines = ["| scenario | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for scenario in SCENARIOS:
        cells = []
        for name in names:
            figures = []
            for seed in range(seeds):
                aws = scenario.aws(seed)
                log = drive(DESIGNS[name](), aws, scenario.seconds, seed=seed)
                figures.append(scenario.figure(log, aws))
            cells.append(" / ".join(figures) if seeds > 1 else figures[0])
        lines.append(f"| {scenario.name} | " + " | ".join(cells) + " |")
    lines += ["", "| organisation (60 account-regions, 2/s each) | " + " | ".join(ORG) + " |"]
    lines.append("|---|" + "---|" * len(ORG))
    cells = [" / ".join(organisation(design, seed) for seed in range(seeds)) for design in ORG]
    lines.append("| throttled, time per account-region / its quota's | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ORG = ("per-throttle AIMD (before)", "noise-aware, alone", "noise-aware, shared prior")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ratesim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args(argv)
    print(table(args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
