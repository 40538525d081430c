"""Adaptive rate control: a pacing limiter per (account, region, operation) that learns the
sustainable call rate, as AWS publishes no quota for ECR's reads and every caller of an
account-region draws on the same ones.

A throttle is a rate signal only when *we* exceed a quota. Other callers draining a shared
quota throttle us at random, at a share that does not follow our rate; 5xx, resets and
timeouts are no signal at all (`Caller` never reports them). So the limiter counts its answers
by the rate they were sent at (10% steps; older ones weigh less, half after two minutes) and
takes as the noise the throttled share at rates well below both the current rate and the quota
as last found (throttles just above a quota are ours). It cuts when the last 60 answers hold
more throttles than that noise explains by one and three standard deviations (no noise: the
first throttle; 8%: 10 of 60), or when, over the last minutes, the rates near ours were
throttled clearly more than 2 points above the noise (a neighbour that lets us through only
some of the time).

The rate starts at `initial_rate`, or from what other account-regions of the scan, or the
previous scan, learned (`crawler.aws.rates`), and grows by one call/s per success (slow
start: doubling each second). While it climbs, one throttle could be anyone's: the noise is
assumed to be 15% until answers at lower rates say otherwise, and the last 20 answers judge;
a bucket that ran dry throttles many, which ends slow start at 0.7 x what AWS admitted in the
last second (the climb's reserve overstates the quota) times `beta`. Later cuts set the rate to
`beta` x what AWS admitted, the estimate of the quota; the rate grows back to it (half the
gap each second), then beyond it by 2% of it a second for 5 seconds, then faster and faster
(cubic, as TCP CUBIC: the estimate may be stale), holding below a rate step recently
throttled beyond the noise. It grows only while used: never past twice what AWS admitted in
the last second. Throttles answering calls booked before a cut are not news, and those calls
book again at the new rate, so a burst of throttles cuts once.

Designs simulated on a virtual clock (`python -m bench.ratesim`: 16 callers, 40 ms a call,
throttled calls retried with the crawler's backoff; seconds 30-120 unless said; means of 3
seeds; bench/README.md has more):

seconds 30-120, mean of 3 seeds             per-throttle     5% tolerated     noise-aware
bucket 10/s: admitted/quota, thr.           0.96, 1.5%       0.96, 1.5%       1.00, 1.3%
bucket 20/s: admitted/quota, thr.           1.00, 0.6%       1.01, 0.9%       1.00, 0.6%
bucket 50/s: admitted/quota, thr.           1.00, 0.1%       1.01, 0.3%       1.00, 0.4%
bucket 200/s: admitted/quota, thr.          0.98, 0.0%       0.96, 0.1%       1.00, 0.1%
20/s shared, other 10/s: ours/10, thr.      1.02, 1.4%(3%)   1.01, 1.4%(2%)   1.09, 5.0%(9%)
2% random throttles: / unlimited            0.02             0.21             0.95
8% random throttles: / unlimited            0.00             0.00             0.89
20% random throttles: / unlimited           0.00             0.00             0.62
8% random, first 10 s: calls/s              5                6                161
50/s, 20/s from 60 s: after /20, thr.       1.02, 0.7%(0.5%) 1.01, 1.8%(1.0%) 1.00, 1.1%(0.9%)
20/s + 8% random: / 18.4, thr.              0.05, 9.2%       0.05, 9.3%       0.77, 10.1%

60 account-regions of 2/s each, from        per-throttle    alone           shared prior
3 s apart: throttled, time / quota time     25.0%, 3.53     40.7%, 1.28     7.0%, 1.07

The per-throttle design (this module before issue 15) collapses to a few calls/s as soon as
others' throttles reach a few percent, and a fixed tolerance only when they are below it; the
noise-aware one keeps both the quotas and the unthrottled rate. Its weak spots: a quota shared
with a busy neighbour (whose bursts throttle us at random below our share: it takes a little
more than half and is throttled more often), a quota under heavy noise (at 8% it loses a
quarter), and 20% noise (early cuts it cannot yet tell from a quota cost it a third).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from crawler.config import RateLimit

WINDOW = 1.0  # seconds of successes that tell what AWS admits
STEP = math.log(1.1)  # answers are counted by the rate they were sent at, in 10% steps
NEAR = 1  # steps either side of ours that are "near" and not the noise
KNOWN = 10  # answers before a share (or what AWS admitted) counts
RECENT = 60  # the last answers, whose throttles are compared with the noise
CLIMB = 20  # or these, in slow start
SURE = 3.0  # standard deviations of the noise that throttles must exceed
EXCESS = 0.02  # a lasting throttled share this far above the noise near our rate is ours
HALF_LIFE = 120.0  # seconds after which an answer weighs half
EXIT = 0.7  # of what AWS admitted, when slow start ends
PRIOR_NOISE = 0.15  # the noise assumed while climbing, until answers at lower rates tell it
PRIOR_WEIGHT = 20  # worth this many answers
PROBE = 0.02  # of the estimate per second: the growth beyond it at first
PLATEAU = 5.0  # seconds of successes beyond the estimate before the growth accelerates
CUBIC = 0.005  # then t more seconds add CUBIC * t**3 of the estimate
USED = 2.0  # the rate never grows past this many times what AWS admitted


@dataclass(frozen=True)
class Start:
    """Where a limiter starts: a rate, and whether a quota was found there (then it probes
    above it gently instead of doubling)."""

    rate: float
    found: bool = False


# Called at each cut with the estimate of the quota (what AWS admitted, None until a second
# of answers tells it) and the time.
Listener = Callable[[float | None, float], None]


class AdaptiveRate:
    def __init__(
        self,
        policy: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        start: Start | None = None,
        listener: Listener | None = None,
    ) -> None:
        self._beta = policy.beta
        self._increase = policy.increase
        self._min_rate = policy.min_rate
        self._clock = clock
        self._listener = listener
        start = start or Start(policy.initial_rate)
        self.rate = max(self._min_rate, start.rate)  # calls per second
        self._slow_start = not start.found
        self._estimate = self.rate  # of the quota: what AWS admitted at the last cut
        self._beyond = 0.0  # seconds of successes beyond the estimate
        self._next_slot = 0.0
        self._last_cut = -math.inf
        self._recent: deque[bool] = deque(maxlen=RECENT)  # throttled? since the last cut
        self._noise = 0.0
        self._bins: dict[int, list[float]] = {}  # rate step -> [throttled, answered, when]
        self._admitted: deque[float] = deque()
        self._first: float | None = None  # when the first answer came
        self._throttles = 0
        self._confirmed = False  # the estimate is what AWS admitted, not a guess

    @property
    def learning(self) -> bool:
        """Still in slow start: no quota found yet."""
        return self._slow_start

    @property
    def unthrottled(self) -> bool:
        """Never throttled: its rate went through untouched."""
        return not self._throttles

    @property
    def noise(self) -> float:
        """The share of calls throttled at rates well below ours: not our doing."""
        return self._noise

    async def acquire(self) -> float:
        """Wait for this call's slot; returns when the slot was booked, for `succeeded` and
        `throttled`. A call whose slot was booked before a cut books again at the new rate."""
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

    def adopt(self, start: Start, now: float) -> None:
        """Take a quota that another account-region found while this one has not (from what
        AWS admitted): it would otherwise find it alone, at the price of its own throttles."""
        learnt = self._confirmed and not self._slow_start
        if not learnt and start.found and start.rate < self.rate:
            self._slow_start = False
            self._set(start.rate, start.rate, now)

    def succeeded(self, sent_at: float, now: float) -> None:
        if self._first is None:
            self._first = now
        _record(self._admitted, now)
        if sent_at < self._last_cut:
            return
        self._answer(False, now)
        admitted = self._admitted_rate(now)
        if admitted is not None and self.rate > USED * admitted:
            return  # not used at this rate: no proof that it goes through
        if self._slow_start:
            self.rate += 1.0
        elif not self._hurts(now):  # per success: grows by `_growth()` a second of use
            self.rate += self._growth() / self.rate

    def _hurts(self, now: float) -> bool:
        """Whether the next rate step up was throttled clearly beyond the noise lately: hold
        there until the memory of it fades."""
        counts = self._bins.get(self._step() + 1)
        if counts is None:
            return False
        _decay(counts, now)
        return _above((counts[0], counts[1]), self._noise + EXCESS)

    def _growth(self) -> float:
        """Calls/s to add per second of successes once a quota was found: back to the
        estimate quickly (half the gap each second), then beyond it slowly at first and
        faster and faster (cubic, as TCP CUBIC): the estimate may be stale (a neighbour left,
        the quota was raised, the throttles were not ours)."""
        below = self._estimate - self.rate
        if below > 0:
            return self._increase + below / 2
        self._beyond += 1.0 / self.rate
        late = max(0.0, self._beyond - PLATEAU)
        return max(self._increase, PROBE * self._estimate) + 3 * CUBIC * self._estimate * late**2

    def throttled(self, sent_at: float, now: float) -> None:
        self._throttles += 1
        if self._first is None:
            self._first = now
        _record(self._admitted, now, add=False)
        if sent_at < self._last_cut:
            return
        self._answer(True, now)
        (throttled, answered), near = self._shares(now)
        unknown = self._slow_start
        if unknown:
            # One throttle early in a climb could be anyone's: until answers at lower rates
            # say otherwise, assume PRIOR_NOISE.
            noise = (throttled + PRIOR_NOISE * PRIOR_WEIGHT) / (answered + PRIOR_WEIGHT)
        else:
            noise = throttled / answered if answered else 0.0
        self._noise = noise
        # More throttles lately than the noise explains, by one and three standard deviations
        # (no noise: the first throttle; 8% noise: 10 of the last 60 answers); or, over the
        # last minutes, clearly more than EXCESS above it at rates near ours.
        # A climb looks at fewer answers: it overshoots fast.
        window = min(len(self._recent), CLIMB if unknown else RECENT)
        expected = window * noise
        spread = math.sqrt(expected * (1 - noise))
        lately = sum(itertools.islice(reversed(self._recent), window))
        if lately >= 1 + expected + SURE * spread or (not unknown and _above(near, noise + EXCESS)):
            self._cut(now)

    def _answer(self, throttled: bool, now: float) -> None:
        self._recent.append(throttled)
        counts = self._bins.setdefault(self._step(), [0.0, 0.0, now])
        _decay(counts, now)
        counts[0] += throttled
        counts[1] += 1

    def _shares(self, now: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """The throttled and answered calls that tell the noise: those sent at rates well
        below ours and below the quota as last found (throttles just above it are ours), or
        while those are too few (after a deep cut), at any rate well below ours; and those
        sent at rates near ours."""
        ours = self._step()
        top = min(ours, self._step(self._estimate)) - NEAR
        below = [0.0, 0.0]
        away = [0.0, 0.0]
        near = [0.0, 0.0]
        for step, counts in self._bins.items():
            _decay(counts, now)
            if abs(step - ours) <= NEAR:
                totals = [near]
            elif step < ours:
                totals = [away, below] if step < top else [away]
            else:
                totals = []
            for total in totals:
                total[0] += counts[0]
                total[1] += counts[1]
        noise = below if below[1] >= KNOWN else away
        return (noise[0], noise[1]), (near[0], near[1])

    def _step(self, rate: float | None = None) -> int:
        return round(math.log(rate or self.rate) / STEP)

    def _admitted_rate(self, now: float) -> float | None:
        """What AWS admitted over the last second, once there is enough of it to tell: a
        second of answers, or KNOWN successes."""
        if self._first is None:
            return None
        _record(self._admitted, now, add=False)
        running = now - self._first
        if running >= WINDOW:
            return len(self._admitted) / WINDOW
        if len(self._admitted) >= KNOWN:
            return len(self._admitted) / max(running, 0.25)
        return None

    def _cut(self, now: float) -> None:
        admitted = self._admitted_rate(now)
        self._confirmed = admitted is not None
        if admitted is not None:
            admitted /= 1 - self._noise  # what it would admit but for the noise
        # What AWS admitted, once a second of answers tells it, is the quota we report; our
        # own estimate is no more than our rate, which AWS just throttled.
        quota = self.rate if admitted is None else admitted
        self._estimate = min(self.rate, quota)
        if self._slow_start:
            # Slow start ends. The climb was paid for by the token bucket's reserve, so what
            # was admitted until then overstates the quota (as TCP halves when leaving it).
            self._estimate *= EXIT
            quota *= EXIT
            self._slow_start = False
        self._set(self._beta * self._estimate, self._estimate, now)
        if self._listener is not None:
            self._listener(quota if self._confirmed else None, now)

    def _set(self, rate: float, estimate: float, now: float) -> None:
        self.rate = max(self._min_rate, rate)
        self._estimate = estimate
        self._beyond = 0.0
        self._last_cut = now
        self._recent.clear()
        # Slots booked before the cut are void (their calls book again), so the next slot is
        # one interval of the new rate away, not after the void ones.
        self._next_slot = min(self._next_slot, now + 1.0 / self.rate)


def _above(counts: tuple[float, float], share: float) -> bool:
    """Whether `counts` (throttled, answered) show a share clearly above `share`."""
    throttled, answered = counts
    expected = answered * share
    return throttled > expected + SURE * math.sqrt(max(expected * (1 - share), 1.0))


def _decay(counts: list[float], now: float) -> None:
    """Older answers weigh less, so that the noise follows a neighbour who comes and goes."""
    weight = 0.5 ** ((now - counts[2]) / HALF_LIFE)
    counts[0] *= weight
    counts[1] *= weight
    counts[2] = now


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
