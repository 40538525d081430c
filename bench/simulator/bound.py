"""The lower bound of a complete scan's wall time, from the scenario alone.

Per account-region, a scan can finish no sooner than either of:

- the chain of dependent fetches: STS (one call, or three through a role), then
  DescribeRepositories pages one after the other, and after the page that lists a repository,
  that repository's DescribeImages pages one after the other (each needs the previous page's
  nextToken);
- the quota of each operation: its calls past the bucket's burst cannot go faster than its rate,
  and cannot start before what they depend on, nor end before one latency.

With `manifests`, a scan also reads every image's manifest (BatchGetImage, 100 digests a call,
once the DescribeImages page naming them has arrived): one more link at the end of each
repository's chain and one more quota term. With `scan_results`, a scan also asks
DescribeImageScanFindings once for every image that can have a result (not an index, not
archived) in the account-regions whose scanning mode keeps results out of DescribeImages
(AWS_NATIVE, ENHANCED), once its DescribeImages page has arrived; and
BatchGetRepositoryScanningConfiguration once per 25 repositories, GetAccountSetting and
GetRegistryScanningConfiguration once, in every mode: quota terms, and one more link.

The bound is the largest of these over the account-regions scanned (they run in parallel and have
quotas of their own). Pages are as large as ECR allows (1000, or the scenario's page_cap) and
latencies are the scenario's without jitter. bench/README.md writes the formula out.
"""

from __future__ import annotations

import math

import msgspec

from bench.simulator.ecr import MAX_IMAGE_IDS
from bench.simulator.paging import MAX_PAGE
from bench.simulator.registry import Registry, Repository
from bench.simulator.scanning import MAX_REPOSITORY_NAMES
from bench.simulator.scenario import Scenario


class Limit(msgspec.Struct, frozen=True):
    """One term of the bound: what it is and how many seconds it needs."""

    account: str
    region: str
    kind: str  # "chain" or "quota"
    detail: str  # the repository at the end of the chain, or the operation and its calls
    seconds: float


class Bound(msgspec.Struct, frozen=True):
    seconds: float
    limit: Limit  # the largest term
    terms: list[Limit]


def page_size(scenario: Scenario) -> int:
    return min(MAX_PAGE, scenario.page_cap or MAX_PAGE)


def pages(items: int, size: int) -> list[int]:
    """Items on each page of a listing; an empty listing is still one call."""
    if items == 0:
        return [0]
    return [min(size, items - start) for start in range(0, items, size)]


def quota_seconds(scenario: Scenario, operation: str, calls: int) -> float:
    """How long `calls` calls take at least under the operation's quota (0 without one), at
    what another client sharing it leaves (its burst counted whole: a bound may be kind)."""
    quota = scenario.quota(operation)
    if quota is None:
        return 0.0
    return max(0.0, calls - quota.capacity) / quota.available


def lower_bound(
    registry: Registry,
    accounts: list[str] | None = None,
    *,
    manifests: bool = False,
    roles: bool = False,
    scan_results: bool = False,
) -> Bound:
    """`roles`: each account is scanned through a role (`accounts:` in the crawler's config),
    so its first ECR call waits for two STS calls one after the other: GetCallerIdentity of
    the base credentials and AssumeRole (whose answer names the role session)."""
    scenario = registry.scenario
    latency = scenario.latency.seconds
    size = page_size(scenario)
    sts = latency(1) * (2 if roles else 1)
    terms: list[Limit] = []
    for account, region in registry.account_regions():
        if accounts is not None and account not in accounts:
            continue
        repos = registry.repositories(account, region)
        # When each DescribeRepositories page has arrived, the first after STS.
        arrivals = [sts]
        for items in pages(len(repos), size):
            arrivals.append(arrivals[-1] + latency(items))
        chain = (arrivals[-1], "DescribeRepositories pages")
        calls = {"DescribeRepositories": len(arrivals) - 1, "DescribeImages": 0, "BatchGetImage": 0}
        asks = scan_results and scenario.scan_mode(region) != "CLAIR"
        if scan_results:
            calls["GetAccountSetting"] = calls["GetRegistryScanningConfiguration"] = 1
            calls["BatchGetRepositoryScanningConfiguration"] = math.ceil(
                len(repos) / MAX_REPOSITORY_NAMES
            )
            calls["DescribeImageScanFindings"] = 0
        for repo in repos:
            image_pages = pages(repo.image_count, size)
            calls["DescribeImages"] += len(image_pages)
            done = arrivals[1 + repo.position // size] + sum(latency(n) for n in image_pages)
            if manifests and repo.image_count:
                calls["BatchGetImage"] += math.ceil(repo.image_count / MAX_IMAGE_IDS)
                done += latency(min(repo.image_count, MAX_IMAGE_IDS))
            if asks and (candidates := scannable(registry, repo)):
                calls["DescribeImageScanFindings"] += candidates
                done += latency(0)
            chain = max(chain, (done, f"{repo.name} ({len(image_pages)} pages)"))
        terms.append(Limit(account, region, "chain", chain[1], chain[0]))
        starts = {"DescribeRepositories": sts, "DescribeImages": arrivals[1]}
        for operation, count in calls.items():
            if count:
                start = starts.get(operation, arrivals[1] + latency(0))
                seconds = start + quota_seconds(scenario, operation, count) + latency(0)
                terms.append(Limit(account, region, "quota", f"{operation} x{count}", seconds))
    if not terms:
        raise ValueError("no account-region to bound")
    limit = max(terms, key=lambda t: t.seconds)
    return Bound(seconds=limit.seconds, limit=limit, terms=terms)


def scannable(registry: Registry, repo: Repository) -> int:
    """The images of `repo` a scan asks DescribeImageScanFindings about: neither an index
    (no scan of its own) nor archived (IMAGE_ARCHIVED, known without asking)."""
    count = 0
    for i in range(repo.image_count):
        meta = registry.meta(repo, i)
        count += not meta.no_scan and not meta.archived
    return count
