"""A scan as units of (account, region), and which shard each unit belongs to: a stable hash,
so that N independent jobs (a CI matrix, a Kubernetes Indexed Job) cover every unit once."""

from __future__ import annotations

import hashlib

from crawler.aws.credentials import Session
from crawler.aws.scope import open_scope
from crawler.config import Config


def shard_of(account_id: str, region: str, shards: int) -> int:
    digest = hashlib.sha256(f"{account_id}/{region}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def parse_shard(shard: str | None) -> tuple[int, int]:
    """ "K/N" as (K, N); no shard is shard 0 of 1."""
    if shard is None:
        return 0, 1
    index, count = shard.split("/")
    return int(index), int(count)


def in_shard(account_id: str, region: str, shard: str | None) -> bool:
    index, count = parse_shard(shard)
    return shard_of(account_id, region, count) == index


async def plan_units(config: Config, base: Session | None = None) -> list[tuple[str, str]]:
    """Every (account, region) unit of the scan, discovering accounts but calling no ECR."""
    scope = await open_scope(config, base)
    return [(t.account_id, region) for t in scope.targets for region in scope.regions]
