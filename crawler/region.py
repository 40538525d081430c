"""What the stages know of one account-region, learned once when its scan begins: how its
registry scans, signs and replicates, as far as the collected options need it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crawler.aws.call import Caller
from crawler.aws.client import RegionClient
from crawler.config import Collect
from crawler.ecr import Optional, snake_keys
from crawler.ecr.inspector import Coverage, ImageKey, image_coverage, severity_counts
from crawler.ecr.scanning import UNKNOWN, Scanning, learn_scanning
from crawler.ecr.signing import signing_configuration
from crawler.errors import AwsError


@dataclass(frozen=True)
class Region:
    client: RegionClient
    principal: str
    scanning: Scanning
    # DescribeRegistry's answer (registry id, replication rules); None: not asked or unreadable.
    registry: dict[str, Any] | None
    # Managed signing rules; None: not asked or unreadable, {}: none.
    signing: dict[str, Any] | None
    # The region's own optional calls; their errors come with the registry stage.
    optional: Optional
    # With collect.inspector in an enhanced registry: each image's coverage and severity
    # counts from Amazon Inspector, which then stands in for DescribeImageScanFindings.
    inspector: Inspector | None = None

    @property
    def replication(self) -> dict[str, Any] | None:
        """The replication rules, in the records' spelling."""
        if self.registry is None:
            return None
        configuration: dict[str, Any] = snake_keys(
            self.registry.get("replicationConfiguration", {})
        )
        return configuration


@dataclass(frozen=True)
class Inspector:
    caller: Caller
    coverage: dict[ImageKey, Coverage]
    counts: dict[ImageKey, dict[str, int]]


async def learn_region(
    client: RegionClient, principal: str, collect: Collect, inspector: Caller | None = None
) -> Region:
    optional = Optional(client)
    scanning = UNKNOWN
    if collect.scan_findings != "off" or collect.registry:
        scanning = await learn_scanning(optional)
    registry = None
    if collect.replication or collect.registry:
        registry = await optional.call("describe_registry")
    signing = None
    if collect.signing or collect.registry:
        signing = await signing_configuration(optional)
    bulk = None
    if (
        inspector is not None
        and collect.scan_findings != "off"
        and scanning.scan_type == "ENHANCED"
    ):
        bulk = await _inspector(optional, inspector, client.account_id)
    return Region(client, principal, scanning, registry, signing, optional, bulk)


async def _inspector(optional: Optional, caller: Caller, account_id: str) -> Inspector | None:
    """Inspector's answers, or None (the error kept) to fall back on DescribeImageScanFindings."""
    try:
        coverage = await image_coverage(caller, account_id)
        counts = await severity_counts(caller, account_id)
    except AwsError as exc:
        optional.failed(exc)
        return None
    return Inspector(caller, coverage, counts)
