"""The manifest cache: manifests, lasting failures and their parsed form by digest, and caches
written by earlier versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio

from crawler.cache import Entry, ManifestCache


def test_manifests_and_failures_round_trip(tmp_path: Path) -> None:
    """A manifest comes back with no failure, a failed digest with its reason, after a close;
    the parsed form only to the parser version that wrote it, the text to any other."""

    async def write() -> None:
        cache = ManifestCache(tmp_path, "v1")
        await cache.put_many(
            [
                ("sha256:a", ("application/vnd.oci.image.manifest.v1+json", "{}", None, b"A")),
                ("sha256:b", ("", "", "UnsupportedImageType: not accepted", b"B")),
            ]
        )
        cache.close()

    anyio.run(write)

    async def read(parser: str) -> dict[str, Entry]:
        cache = ManifestCache(tmp_path, parser)
        try:
            return await cache.get_many(["sha256:a", "sha256:b", "sha256:c"])
        finally:
            cache.close()

    assert anyio.run(read, "v1") == {
        "sha256:a": ("application/vnd.oci.image.manifest.v1+json", "", None, b"A"),
        "sha256:b": ("", "", "UnsupportedImageType: not accepted", b"B"),
    }
    assert anyio.run(read, "v2") == {
        "sha256:a": ("application/vnd.oci.image.manifest.v1+json", "{}", None, None),
        "sha256:b": ("", "", "UnsupportedImageType: not accepted", None),
    }


def test_a_cache_of_before_failures_were_kept_is_migrated(tmp_path: Path) -> None:
    """The three-column table of earlier versions gains the columns it lacks and keeps its
    manifests."""
    with sqlite3.connect(tmp_path / "manifests.sqlite") as db:
        db.execute(
            "CREATE TABLE manifests "
            "(digest TEXT PRIMARY KEY, media_type TEXT, manifest TEXT NOT NULL)"
        )
        db.execute("INSERT INTO manifests VALUES ('sha256:old', 'application/x', '{\"a\":1}')")
    db.close()

    async def read() -> dict[str, Entry]:
        cache = ManifestCache(tmp_path, "v1")
        try:
            return await cache.get_many(["sha256:old"])
        finally:
            cache.close()

    assert anyio.run(read) == {"sha256:old": ("application/x", '{"a":1}', None, None)}
