"""What the stages know of one account-region, learned once when its scan begins: how its
registry scans, signs and replicates, as far as the collected options need it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crawler.aws.client import RegionClient
from crawler.config import Collect
from crawler.ecr import Optional, snake_keys
from crawler.ecr.scanning import UNKNOWN, Scanning, learn_scanning
from crawler.ecr.signing import signing_configuration


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

    @property
    def replication(self) -> dict[str, Any] | None:
        """The replication rules, in the records' spelling."""
        if self.registry is None:
            return None
        configuration: dict[str, Any] = snake_keys(
            self.registry.get("replicationConfiguration", {})
        )
        return configuration


async def learn_region(client: RegionClient, principal: str, collect: Collect) -> Region:
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
    return Region(client, principal, scanning, registry, signing, optional)
