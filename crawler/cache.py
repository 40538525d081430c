"""A local content-addressed store of image manifests: a digest names its content forever, so
a manifest fetched once never needs BatchGetImage again (which would update the image's
lastRecordedPullTime on AWS); nor does a digest that failed for a lasting reason, kept with
its reason."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import anyio
import anyio.to_thread

from crawler.errors import CrawlerError

# Manifests written to the cache in one transaction.
WRITE_BATCH = 1000
# Digests asked in one query (SQLite before 3.32 allows 999 parameters).
QUERY = 900
# (media type, manifest text, lasting failure): a failed digest has "" for both and its
# failure ("code: reason"); a manifest has None.
Entry = tuple[str, str, str | None]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ecr-crawler"


class ManifestCache:
    """digest -> (media type, manifest text, failure), in one SQLite file, used from worker
    threads."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._path = self.directory / "manifests.sqlite"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self._path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # A cache: a transaction lost with the machine is fetched again, no fsync each.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS manifests "
                "(digest TEXT PRIMARY KEY, media_type TEXT, manifest TEXT NOT NULL, failure TEXT)"
            )
            # A cache written before failures were kept: the column is added, rows keep NULL.
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(manifests)")}
            if "failure" not in columns:
                self._db.execute("ALTER TABLE manifests ADD COLUMN failure TEXT")
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        self._lock = anyio.Lock()
        # Fetched manifests not yet written: one transaction per WRITE_BATCH, not per call.
        self._pending: dict[str, Entry] = {}

    def _error(self, exc: Exception) -> CrawlerError:
        # Without the cache every manifest would be fetched again, updating every image's
        # pull time on AWS: better to stop and say so.
        return CrawlerError(
            f"manifest cache {self._path}: {exc}: free space there, set cache_dir to a "
            "writable directory, or set collect.manifests: off"
        )

    async def get_many(self, digests: list[str]) -> dict[str, Entry]:
        pending = self._pending
        found = {d: pending[d] for d in digests if d in pending}
        wanted = [d for d in digests if d not in found]
        if wanted:
            async with self._lock:
                try:
                    found.update(await anyio.to_thread.run_sync(self._get_many, wanted))
                except sqlite3.Error as exc:
                    raise self._error(exc) from None
        return found

    def _get_many(self, digests: list[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        for start in range(0, len(digests), QUERY):
            wanted = digests[start : start + QUERY]
            rows = self._db.execute(
                "SELECT digest, media_type, manifest, failure FROM manifests "
                f"WHERE digest IN ({','.join('?' * len(wanted))})",
                wanted,
            )
            found.update((digest, (media or "", text, bad)) for digest, media, text, bad in rows)
        return found

    async def put_many(self, items: Iterable[tuple[str, Entry]]) -> None:
        """Kept until WRITE_BATCH manifests wait, then written in one transaction. A caller
        waits while another batch is written, so batches never pile up behind a slow disk."""
        self._pending.update(items)
        if len(self._pending) < WRITE_BATCH:
            return
        async with self._lock:
            if len(self._pending) < WRITE_BATCH:
                return  # written while this caller waited
            batch, self._pending = self._pending, {}
            try:
                await anyio.to_thread.run_sync(self._put_many, batch)
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _put_many(self, items: dict[str, Entry]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO manifests (digest, media_type, manifest, failure) "
                "VALUES (?, ?, ?, ?)",
                ((digest, *entry) for digest, entry in items.items()),
            )

    def close(self) -> None:
        """Writes what waits (an interrupted scan keeps what it fetched), then closes."""
        try:
            self._put_many(self._pending)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        finally:
            self._pending = {}
            self._db.close()
