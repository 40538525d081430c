"""The manifest cache: manifests and lasting failures by digest, and caches written before
failures were kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio

from crawler.cache import ManifestCache


def test_manifests_and_failures_round_trip(tmp_path: Path) -> None:
    """A manifest comes back with no failure, a failed digest with its reason, after a close."""

    async def write() -> None:
        cache = ManifestCache(tmp_path)
        await cache.put_many(
            [
                ("sha256:a", ("application/vnd.oci.image.manifest.v1+json", "{}", None)),
                ("sha256:b", ("", "", "UnsupportedImageType: not accepted")),
            ]
        )
        cache.close()

    anyio.run(write)

    async def read() -> dict[str, tuple[str, str, str | None]]:
        cache = ManifestCache(tmp_path)
        try:
            return await cache.get_many(["sha256:a", "sha256:b", "sha256:c"])
        finally:
            cache.close()

    assert anyio.run(read) == {
        "sha256:a": ("application/vnd.oci.image.manifest.v1+json", "{}", None),
        "sha256:b": ("", "", "UnsupportedImageType: not accepted"),
    }


def test_a_cache_of_before_failures_were_kept_is_migrated(tmp_path: Path) -> None:
    """The three-column table of earlier versions gains the failure column and keeps its
    manifests."""
    with sqlite3.connect(tmp_path / "manifests.sqlite") as db:
        db.execute(
            "CREATE TABLE manifests "
            "(digest TEXT PRIMARY KEY, media_type TEXT, manifest TEXT NOT NULL)"
        )
        db.execute("INSERT INTO manifests VALUES ('sha256:old', 'application/x', '{\"a\":1}')")
    db.close()

    async def read() -> dict[str, tuple[str, str, str | None]]:
        cache = ManifestCache(tmp_path)
        try:
            return await cache.get_many(["sha256:old"])
        finally:
            cache.close()

    assert anyio.run(read) == {"sha256:old": ("application/x", '{"a":1}', None)}
