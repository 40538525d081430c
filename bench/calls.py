"""How many ECR calls a complete scan takes for each peer, so that a run stopped at the time
cap can be extrapolated by the share of its calls it made.

Both peers leave page sizes at AWS's default (100) and filter nothing by imageStatus, so they
page through the ACTIVE images only (counted here from the registry's cheap image metadata).
"""

from __future__ import annotations

import math

from bench.simulator import Registry
from bench.simulator.paging import DEFAULT_PAGE


def _pages(items: int, size: int) -> int:
    return max(1, math.ceil(items / size))


def baseline_calls(registry: Registry, account: str) -> int:
    """DescribeRepositories pages, then DescribeImages pages of each repository."""
    size = min(DEFAULT_PAGE, registry.scenario.page_cap or DEFAULT_PAGE)
    calls = 0
    for acct, region in registry.account_regions():
        if acct != account:
            continue
        repos = registry.repositories(acct, region)
        calls += _pages(len(repos), size)
        for repo in repos:
            active = sum(not registry.meta(repo, i).archived for i in range(repo.image_count))
            calls += _pages(active, size)
    return calls


def cartography_calls(registry: Registry, account: str) -> int:
    """DescribeRepositories pages; per repository, ListImages pages (one entry per tag), one
    DescribeImages per non-empty ListImages page, and one BatchGetImage per image index."""
    size = min(DEFAULT_PAGE, registry.scenario.page_cap or DEFAULT_PAGE)
    calls = 0
    for acct, region in registry.account_regions():
        if acct != account:
            continue
        repos = registry.repositories(acct, region)
        calls += _pages(len(repos), size)
        for repo in repos:
            entries = indexes = 0
            for i in range(repo.image_count):
                meta = registry.meta(repo, i)
                if not meta.archived:
                    entries += max(1, len(meta.tags))
                    indexes += meta.kind == "index"
            list_pages = _pages(entries, size)
            calls += list_pages + (list_pages if entries else 0) + indexes
    return calls
