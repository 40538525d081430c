"""How many images each repository of a scenario holds: a seeded heavy-tailed draw per
repository, capped, and optionally rescaled so that the whole scenario holds about
`images.total` images."""

from __future__ import annotations

import math
import random

from bench.simulator.scenario import Scenario


def draw_counts(scenario: Scenario) -> dict[tuple[str, str], list[int]]:
    """Images per repository for every account-region, from the scenario's seeded draw."""
    spec = scenario.images
    rng = random.Random(scenario.seed)
    keys = [(a, r) for a in scenario.accounts for r in scenario.regions]
    per_key = scenario.repositories_per_region - len(spec.large)

    def draw() -> float:
        if spec.distribution == "lognormal":
            return spec.median * math.exp(spec.sigma * rng.gauss(0.0, 1.0))
        if spec.distribution == "pareto":
            return spec.minimum * rng.paretovariate(spec.alpha)
        return float(spec.value)

    weights = [draw() for _ in range(per_key * len(keys))]
    scale = 1.0
    if spec.total is not None:
        target = max(0, spec.total - sum(spec.large) * len(keys))
        scale = _fit_scale(weights, spec.cap, target)
    counts = [min(spec.cap, math.floor(w * scale + 0.5)) for w in weights]
    return {
        key: [*spec.large, *counts[n * per_key : (n + 1) * per_key]] for n, key in enumerate(keys)
    }


def _fit_scale(weights: list[float], cap: int, target: int) -> float:
    """The factor that makes the capped, rounded counts add up to about `target`, by bisection
    (capping makes the total a step function of the factor)."""

    def total(scale: float) -> int:
        return sum(min(cap, math.floor(w * scale + 0.5)) for w in weights)

    low, high = 0.0, 1.0
    while total(high) < target and high < 1e12:
        high *= 2
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if total(mid) < target else (low, mid)
    return high
