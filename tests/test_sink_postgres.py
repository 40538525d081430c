"""The PostgreSQL sink against a real server: crashes and dropped connections mid-scan, a server
that does not come back, credentials, schema and migration, concurrent upserts; and without one:
a server that is not there fails at once, before the scan, naming where it was looked for."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.to_thread
import pg
import pytest
import structlog
from awsproxy import AwsProxy, Rule
from conftest import REGIONS, cli, truth
from pg import PgStore, doc_blocks, lean_config, scan_into
from test_sink_sql import as_truth

from crawler.demo import free_port
from crawler.errors import SinkError
from crawler.records import Image
from crawler.secrets import REDACTED, redact_uri
from crawler.sinks import describe, open_sink
from crawler.sinks.postgres import PostgresSink


@pytest.fixture
def server(request: pytest.FixtureRequest) -> pg.Cluster:
    """The session's PostgreSQL server (skipped without PostgreSQL, unless CI=true)."""
    return pg.shared_cluster(request.config)


@pytest.fixture
def store(server: pg.Cluster) -> PgStore:
    return PgStore(server, server.database())


def images(scan_id: str, n: int, region: str = "us-east-1") -> list[Image]:
    return [
        Image(
            scan_id=scan_id,
            account_id="123456789012",
            region=region,
            registry_id="123456789012",
            repository_name=f"repo/{i % 7}",
            image_digest=f"sha256:{i:064x}",
            image_tags=[f"v{i}"],
            image_uri=f"example/repo@sha256:{i:064x}",
            image_pushed_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for i in range(n)
    ]


def write(sink: PostgresSink, records: list[Image]) -> None:
    """One batch, then close."""

    async def run() -> None:
        try:
            await sink.write(records)
        finally:
            await sink.aclose()

    anyio.run(run)


@pytest.mark.parametrize(
    ("uri", "env", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", {}, f"postgresql://u:{REDACTED}@h:5432/db"),
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            {},
            f"postgresql://u@h:5432/db?password={REDACTED}&sslmode=require",
        ),
        ("postgresql://", {}, "postgresql://localhost:5432"),
        (
            "postgres:///inventory",
            {"PGHOST": "db", "PGPORT": "6000"},
            "postgres://db:6000/inventory",
        ),
        (
            "postgresql:///inventory?port=6001",
            {},
            "postgresql://localhost:6001/inventory?port=6001",
        ),
        ("postgresql://[::1]/db", {}, "postgresql://[::1]:5432/db"),
        ("postgresql:///db?host=/run/postgresql", {}, "postgresql:///db?host=/run/postgresql"),
    ],
)
def test_a_database_uri_is_shown_with_where_it_connects_and_no_password(
    uri: str, env: dict[str, str], shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL sink is described with its password redacted, wherever it was, and with the
    host and port libpq would use where the URI leaves them out (the URI's parameters, then
    PGHOST and PGPORT, then localhost:5432)."""
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGPORT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert describe(uri) == shown


def closed_port_uri() -> str:
    """A URI with a password, to a port on 127.0.0.1 where nothing listens."""
    return f"postgresql://crawler:{pg.PG_PASSWORD}@127.0.0.1:{free_port()}/inventory"


def test_no_server_fails_when_the_sink_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused first connection is a SinkError from open_sink, at once and without retries,
    naming the host and port and asking whether the server runs; with no host in the URI,
    the one libpq would use (PGHOST, PGPORT)."""
    uri = closed_port_uri()
    with structlog.testing.capture_logs() as logs, pytest.raises(SinkError) as failed:
        open_sink(uri)
    port = uri.rsplit(":", 1)[1].split("/")[0]
    assert str(failed.value) == (
        f"PostgreSQL at {redact_uri(uri)}: connection refused; is the server running? "
        f"(host 127.0.0.1, port {port})"
    )
    assert logs == []  # no "retrying" warning: nothing was ever retried
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", port)
    with pytest.raises(SinkError, match=rf"^PostgreSQL at postgresql://127\.0\.0\.1:{port}: "):
        open_sink("postgresql://")


def test_no_server_stops_the_cli_before_any_aws_call(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """`ecr-crawler scan` into a PostgreSQL sink where nothing listens exits 1 before calling
    AWS at all, with one line naming the host and port; the password is nowhere."""
    uri = closed_port_uri()
    port = uri.rsplit(":", 1)[1].split("/")[0]
    result = cli("scan", "--regions", "eu-west-1", "--sink", uri, env=aws_env)
    assert result.code == 1, result.stderr
    assert sum(proxy.calls.values()) == 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"ecr-crawler: error: PostgreSQL at {redact_uri(uri)}: ")
    assert line.endswith(f"is the server running? (host 127.0.0.1, port {port})")
    assert pg.PG_PASSWORD not in result.stderr + result.stdout


def test_server_crash_mid_scan_is_retried_to_the_exact_inventory(
    store: PgStore, server: pg.Cluster, proxy: AwsProxy
) -> None:
    """The server is killed (SIGKILL) before the sink's second batch and restarted half a
    second later: the batch is retried on a new connection and the scan completes with every
    row exactly once."""
    proxy.rules.append(Rule("latency", delay=0.05))
    restart = threading.Timer(0.5, server.start)

    async def crash(n: int) -> None:
        if n == 2:
            await anyio.to_thread.run_sync(server.crash)
            restart.start()

    try:
        with structlog.testing.capture_logs() as logs:
            summary = scan_into(lean_config(proxy), open_sink(store.uri), before_batch=crash)
    finally:
        if restart.ident is not None:
            restart.join()
    assert restart.ident is not None
    assert summary.status == "complete"
    assert any(e["event"].startswith("sink write failed; retrying") for e in logs)
    assert all(pg.PG_PASSWORD not in repr(e) for e in logs)
    assert as_truth(store, rows="all") == truth(proxy.upstream, REGIONS)
    assert [r["status"] for r in store.rows("scans")] == ["complete"]


def test_dropped_connection_is_retried(store: PgStore, proxy: AwsProxy) -> None:
    """The sink's connection is terminated by the server before a batch: same result."""

    async def drop(n: int) -> None:
        if n == 2:
            await store.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                store.database,
            )

    summary = scan_into(lean_config(proxy), open_sink(store.uri), before_batch=drop)
    assert summary.status == "complete"
    assert as_truth(store, rows="all") == truth(proxy.upstream, REGIONS)


def test_server_that_stays_down_stops_the_scan_and_a_rerun_converges(
    store: PgStore, server: pg.Cluster, proxy: AwsProxy
) -> None:
    """With the server gone for good the scan stops with a SinkError naming the redacted URI;
    what it committed stays, nothing is marked deleted, and a rerun leaves exactly the rows of
    a clean run."""
    proxy.rules.append(Rule("latency", delay=0.03))

    async def crash(n: int) -> None:
        if n == 2:
            await anyio.to_thread.run_sync(server.crash)

    sink = PostgresSink(store.uri, retry_seconds=0.5)
    try:
        with pytest.raises(ExceptionGroup) as failed:
            scan_into(lean_config(proxy), sink, before_batch=crash)
    finally:
        server.start()
    [error] = failed.value.subgroup(SinkError).exceptions  # type: ignore[union-attr]
    message = str(error)
    assert message.startswith(f"PostgreSQL at {redact_uri(store.uri)}: ")
    assert "gave up after" in message
    assert "rerun the scan" in message
    assert pg.PG_PASSWORD not in message
    repositories, images = truth(proxy.upstream, REGIONS)
    committed = len(store.rows("repositories")) + len(store.rows("images"))
    assert 0 < committed < len(repositories) + len(images)
    assert store.rows("scans") == []

    proxy.rules.clear()
    rerun = scan_into(lean_config(proxy), open_sink(store.uri))
    assert as_truth(store, rows="all") == truth(proxy.upstream, REGIONS)
    assert {r["last_seen_scan_id"] for r in store.rows("images")} == {rerun.scan_id}
    assert [r["scan_id"] for r in store.rows("scans")] == [rerun.scan_id]


def test_credentials_from_environment_and_password_file(
    store: PgStore, server: pg.Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URI without a password works with PGPASSWORD or a password file (PGPASSFILE); a wrong
    password fails at once, not after retries, without showing the password."""
    bare = server.dsn(store.database, password=False)
    monkeypatch.setenv("PGPASSWORD", pg.PG_PASSWORD)
    write(PostgresSink(bare), images("s1", 3))
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{server.port}:*:{pg.PG_USER}:{pg.PG_PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    write(PostgresSink(bare), images("s2", 5))
    rows = store.rows("images")
    assert sorted(r["first_seen_scan_id"] for r in rows) == ["s1"] * 3 + ["s2"] * 2
    assert {r["last_seen_scan_id"] for r in rows} == {"s2"}

    wrong = "not-the-password-MARKER-3c1"
    started = time.monotonic()
    with pytest.raises(SinkError) as failed:
        write(PostgresSink(bare.replace("postgres@", f"postgres:{wrong}@")), [])
    assert time.monotonic() - started < 5
    assert "InvalidPasswordError" in str(failed.value)
    assert wrong not in str(failed.value)


def test_schema_is_created_and_migrated(store: PgStore) -> None:
    """The tables go into the configured schema with typed columns; a table from an older
    version gains the columns it lacks and keeps its rows."""
    anyio.run(store.fetch, "CREATE SCHEMA inv")
    anyio.run(
        store.fetch,
        "CREATE TABLE inv.images (account_id text, region text, repository_name text, "
        "image_digest text, old_column text, "
        "PRIMARY KEY (account_id, region, repository_name, image_digest))",
    )
    anyio.run(store.fetch, "INSERT INTO inv.images VALUES ('1', 'r', 'old', 'd', 'kept')")
    write(PostgresSink(store.uri, schema="inv"), images("s1", 4))
    columns = {
        r["column_name"]: r["data_type"]
        for r in anyio.run(
            store.fetch,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'inv' AND table_name = 'images'",
        )
    }
    assert columns["image_pushed_at"] == "timestamp with time zone"
    assert columns["image_tags"] == "jsonb"
    assert columns["image_size_in_bytes"] == "bigint"
    assert columns["old_column"] == "text"
    assert columns["last_seen_scan_id"] == "text"
    rows = PgStore(store.cluster, store.database, schema="inv").rows("images")
    assert len(rows) == 5
    assert {r["old_column"] for r in rows} == {"kept", None}
    tables = anyio.run(
        store.fetch, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'inv'"
    )
    assert {"repositories", "images", "errors", "scans"} <= {t["table_name"] for t in tables}


def test_concurrent_upserts_of_the_same_rows_never_deadlock(store: PgStore) -> None:
    """Two sinks upserting the same rows in opposite orders at once: no deadlock, no
    duplicate (rows are upserted in key order)."""
    rows = images("s", 600)

    async def hammer(sink: PostgresSink, seed: int) -> None:
        shuffled = list(rows)
        random.Random(seed).shuffle(shuffled)
        for _ in range(4):
            await sink.write(shuffled)
        await sink.aclose()

    async def both() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(hammer, PostgresSink(store.uri, retry_seconds=0.1), 1)
            tg.start_soon(hammer, PostgresSink(store.uri, retry_seconds=0.1), 2)

    with structlog.testing.capture_logs() as logs:
        anyio.run(both)
    assert logs == []  # not even a deadlock that a retry resolved
    assert len(store.rows("images")) == 600


def test_documented_queries_run(store: PgStore, proxy: AwsProxy) -> None:
    """The PostgreSQL queries of docs/sinks.md run on a scanned database."""
    scan_into(lean_config(proxy, regions=["eu-west-1"]), open_sink(store.uri))
    blocks = doc_blocks("PostgreSQL")
    assert len(blocks) >= 2
    results = [anyio.run(store.fetch, sql) for sql in blocks]
    assert results[0]


def test_missing_binaries_skip_here_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pg_ctl the PostgreSQL tests skip, saying why, unless CI=true: then they fail."""
    monkeypatch.setattr(pg, "find_pg_ctl", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"pg_ctl\) not found"), pg.cluster():
        pass
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run"), pg.cluster():
        pass
