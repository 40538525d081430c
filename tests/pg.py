"""Helpers for the sink tests: scans into a real sink, records to write, and a throwaway
PostgreSQL cluster.

The cluster is pytest-postgresql's executor (pg_ctl initdb/start/stop) on 127.0.0.1 and a free
port, in a temporary directory, with password authentication and fsync off. initdb refuses to
run as root, so as root (CI runs as root) pg_ctl runs as the `postgres` user that Debian's
postgresql package creates, through `setpriv`; the data directory is handed to that user.

Without PostgreSQL's binaries the PostgreSQL tests are skipped, saying so, unless CI=true, where
they fail: CI installs PostgreSQL (.ci/run) and must never skip them.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import sqlite3
import stat
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import pytest
from aiobotocore.session import AioSession
from awsproxy import AwsProxy
from conftest import ACCESS_KEY, SECRET_KEY, make_config

from crawler.config import Config
from crawler.demo import free_port
from crawler.graph import scan
from crawler.records import ScanRecord, ScanSummary
from crawler.sinks import Sink

PG_USER = "postgres"
PG_PASSWORD = "pg-s3cret-MARKER-7d2e-never-print-me"


DOCS = Path(__file__).parent.parent / "docs" / "sinks.md"
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def summary(**fields: Any) -> ScanSummary:
    """A scan's last record: scan "s" of account "1", complete, no region, unless told."""
    defaults: dict[str, Any] = {
        "scan_id": "s",
        "account_id": "1",
        "started_at": NOW,
        "finished_at": NOW,
        "status": "complete",
        "regions": {},
        "regions_skipped": [],
    }
    return ScanSummary(**{**defaults, **fields})


def doc_blocks(section: str, language: str = "sql") -> list[str]:
    """The code blocks in `language` of one `## ` section of docs/sinks.md."""
    text = DOCS.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    part = text[start : end if end > 0 else None]
    return re.findall(rf"```{language}\n(.*?)```", part, re.S)


def lean_config(proxy: AwsProxy, **overrides: Any) -> Config:
    """conftest's make_config without fetching manifests: half the calls, for tests about
    what the sink does rather than what the scan collects."""
    return make_config(proxy, **{"collect.manifests": "off", **overrides})


def scan_into(
    config: Config,
    sink: Sink,
    *,
    before_batch: Callable[[int], Awaitable[None]] | None = None,
    interrupt_at: int | None = None,
) -> ScanSummary:
    """A scan in this process with the test keys into `sink`, closed afterwards as the CLI
    closes it (also when the scan fails). `before_batch(n)` runs before the sink writes its
    n-th batch (to crash a server, say); `interrupt_at=n` stops the scan when the n-th batch
    comes, as a first Ctrl-C would (that batch and the rest collected are still written)."""
    session = AioSession()
    session.set_credentials(ACCESS_KEY, SECRET_KEY)
    stop = anyio.Event()

    async def before(n: int) -> None:
        if before_batch is not None:
            await before_batch(n)
        if n == interrupt_at:
            stop.set()

    watched = Watched(sink, before)

    async def run() -> ScanSummary:
        try:
            return await scan(config, watched, session=session, stop=stop)
        finally:
            with anyio.CancelScope(shield=True):
                await sink.aclose()

    return anyio.run(run)


@dataclass
class Watched:
    """A real sink, with something done before each batch."""

    sink: Sink
    before: Callable[[int], Awaitable[None]]
    batches: int = 0

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        self.batches += 1
        await self.before(self.batches)
        await self.sink.write(batch)

    async def aclose(self) -> None:
        await self.sink.aclose()


class Store(Protocol):
    """A database a sink writes, read back by the test."""

    @property
    def uri(self) -> str: ...

    def rows(self, table: str, where: str = "") -> list[dict[str, Any]]: ...


@dataclass
class SqliteStore:
    path: Path

    @property
    def uri(self) -> str:
        return f"sqlite:{self.path}"

    def rows(self, table: str, where: str = "") -> list[dict[str, Any]]:
        db = sqlite3.connect(self.path)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(f"SELECT * FROM {table} {where}")]
        finally:
            db.close()


@dataclass
class PgStore:
    cluster: Cluster
    database: str
    schema: str = "ecr_inventory"

    @property
    def uri(self) -> str:
        return self.cluster.dsn(self.database)

    def rows(self, table: str, where: str = "") -> list[dict[str, Any]]:
        return anyio.run(self.fetch, f"SELECT * FROM {self.schema}.{table} {where}")

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        import asyncpg

        conn = await asyncpg.connect(self.uri)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()


def active(store: Store, table: str) -> list[dict[str, Any]]:
    return store.rows(table, "WHERE deleted_at IS NULL")


def find_pg_ctl() -> str | None:
    """pg_ctl on PATH, or the newest of Debian's /usr/lib/postgresql/<version>/bin/pg_ctl."""
    found = shutil.which("pg_ctl")
    if found:
        return found
    debian = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    return max(debian, key=lambda p: int(Path(p).parts[-3]), default=None)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests (.ci/run installs it)")
    pytest.skip(f"{reason}: PostgreSQL sink tests skipped (apt-get install postgresql)")


@dataclass
class Cluster:
    executor: Any
    port: int

    def dsn(self, database: str = "postgres", password: bool = True) -> str:
        secret = f":{PG_PASSWORD}" if password else ""
        return f"postgresql://{PG_USER}{secret}@127.0.0.1:{self.port}/{database}"

    def restart(self) -> None:
        """A clean restart: fast shutdown (clients are disconnected), then start."""
        self.executor.stop()
        self.start()

    def crash(self) -> None:
        """Kill the server and every backend with SIGKILL, as a crash would; `start` then
        runs crash recovery."""
        pidfile = Path(self.executor.datadir) / "postmaster.pid"
        pid = int(pidfile.read_text().split()[0])
        self.executor.kill(sig=signal.SIGKILL)
        # The dead postmaster stays a zombie until init reaps it (seconds, here), and the PID
        # in its stale lock files would stop the next start: once it is dead, drop them.
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        pidfile.unlink(missing_ok=True)
        sockets = Path(self.executor.unixsocketdir)
        (sockets / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)

    def database(self) -> str:
        """A new, empty database."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        anyio.run(self._execute, f"CREATE DATABASE {name}")
        return name

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def start(self) -> None:
        """Start the server and wait until it accepts connections (after crash recovery)."""
        self.executor.start()
        anyio.run(_wait_ready, self.port)


async def _wait_ready(port: int) -> None:
    import asyncpg

    with anyio.fail_after(60):
        while True:
            try:
                conn = await asyncpg.connect(
                    host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD
                )
            except (OSError, asyncpg.CannotConnectNowError):
                await anyio.sleep(0.05)
            else:
                await conn.close()
                return


async def _set_password(port: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user=PG_USER, database="postgres")
    try:
        await conn.execute(f"ALTER ROLE {PG_USER} PASSWORD '{PG_PASSWORD}'")
    finally:
        await conn.close()


async def _reload(port: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD, database="postgres"
    )
    try:
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


_shared: list[Cluster] = []


def shared_cluster(config: pytest.Config) -> Cluster:
    """One cluster for the whole test session: started on first use (or skipped, see
    `cluster`), stopped when pytest ends."""
    if not _shared:
        stack = ExitStack()
        _shared.append(stack.enter_context(cluster()))
        config.add_cleanup(stack.close)
        config.add_cleanup(_shared.clear)
    return _shared[0]


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL server on 127.0.0.1 for as long as the block runs (skips or fails the test
    when the binaries are missing, see the module's docstring)."""
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        _missing("PostgreSQL server binaries (pg_ctl) not found")
        raise AssertionError  # unreachable: skip and fail raise
    from pytest_postgresql.executors import PostgreSQLExecutor

    base = Path(tempfile.mkdtemp(prefix="ecr-crawler-pg-"))
    executable = pg_ctl
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(PG_USER)
        except KeyError:
            shutil.rmtree(base)
            _missing(f"running as root and there is no '{PG_USER}' user to run PostgreSQL")
            raise AssertionError from None
        os.chown(base, owner.pw_uid, owner.pw_gid)
        wrapper = base / "pg_ctl"
        wrapper.write_text(
            "#!/bin/sh\n"
            f'cd "{base}"\n'
            f"exec setpriv --reuid={owner.pw_uid} --regid={owner.pw_gid} --init-groups "
            f'"{pg_ctl}" "$@"\n'
        )
        wrapper.chmod(stat.S_IRWXU)
        executable = str(wrapper)
    port = free_port()
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=port,
        datadir=str(base / "data"),
        unixsocketdir=str(base),
        logfile=str(base / "postgresql.log"),
        startparams="-w",
        dbname="postgres",
        user=PG_USER,
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c listen_addresses=127.0.0.1",
        timeout=60,
    )
    try:
        executor.start()
        # initdb's --pwfile would be a root-only file here: set the password over a trusted
        # connection instead, then require it for every TCP connection.
        anyio.run(_set_password, port)
        hba = base / "data" / "pg_hba.conf"
        hba.write_text(
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        anyio.run(_reload, port)
        yield Cluster(executor, port)
    finally:
        try:
            if executor.running():
                executor.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
