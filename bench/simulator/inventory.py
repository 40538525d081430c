"""The exact inventory of a scenario, as the records a complete scan must reproduce."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from bench.simulator.registry import Registry


class RepositoryEntry(msgspec.Struct, tag="repository", tag_field="type", frozen=True):
    account: str
    region: str
    repository_name: str


class ImageEntry(msgspec.Struct, tag="image", tag_field="type", frozen=True):
    account: str
    region: str
    repository_name: str
    image_digest: str
    image_tags: list[str]  # sorted
    image_status: str


def inventory(
    registry: Registry, accounts: list[str] | None = None
) -> Iterator[RepositoryEntry | ImageEntry]:
    """Every repository and image of the scenario (of `accounts`, if given), in listing order."""
    for repo, image in registry.inventory(accounts):
        if image is None:
            yield RepositoryEntry(repo.account, repo.region, repo.name)
            continue
        digest, tags, archived = image
        status = "ARCHIVED" if archived else "ACTIVE"
        yield ImageEntry(repo.account, repo.region, repo.name, digest, sorted(tags), status)
