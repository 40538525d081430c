"""A local content-addressed store of image manifests: a digest names its content forever, so
a manifest fetched once never needs BatchGetImage again (which would update the image's
lastRecordedPullTime on AWS)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import anyio
import anyio.to_thread

from crawler.errors import CrawlerError


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ecr-crawler"


class ManifestCache:
    """digest -> (media type, manifest text), in one SQLite file, used from worker threads."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._path = Path(directory) / "manifests.sqlite"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self._path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS manifests "
                "(digest TEXT PRIMARY KEY, media_type TEXT, manifest TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        self._lock = anyio.Lock()

    def _error(self, exc: Exception) -> CrawlerError:
        # Without the cache every manifest would be fetched again, updating every image's
        # pull time on AWS: better to stop and say so.
        return CrawlerError(
            f"manifest cache {self._path}: {exc}: free space there, set cache_dir to a "
            "writable directory, or set collect.manifests: off"
        )

    async def get_many(self, digests: list[str]) -> dict[str, tuple[str, str]]:
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(self._get_many, digests)
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _get_many(self, digests: list[str]) -> dict[str, tuple[str, str]]:
        marks = ",".join("?" * len(digests))
        rows = self._db.execute(
            f"SELECT digest, media_type, manifest FROM manifests WHERE digest IN ({marks})",
            digests,
        )
        return {digest: (media_type, text) for digest, media_type, text in rows}

    async def put_many(self, items: Iterable[tuple[str, str, str]]) -> None:
        async with self._lock:
            try:
                await anyio.to_thread.run_sync(self._put_many, list(items))
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _put_many(self, items: list[tuple[str, str, str]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO manifests VALUES (?, ?, ?)", items)

    def close(self) -> None:
        self._db.close()
