"""The SQLite sink: the documented queries run on a real scan, the demo writes SQLite and prints
queries that work, `--prune`, WAL mode, migration, and tables for record types added later."""

from __future__ import annotations

import re
import shlex
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import pytest
from awsproxy import AwsProxy
from conftest import cli, ecr_client, make_config, reseed, truth
from pg import SqliteStore, active, doc_blocks, scan_into

from crawler.errors import ConfigError
from crawler.records import Record
from crawler.sinks import open_sink
from crawler.sinks.sqlite import EXAMPLE_QUERIES, SqliteSink
from crawler.sinks.tables import table_for


def squash(sql: str) -> str:
    """SQL without comments and with single spaces, to compare two spellings of a query."""
    return " ".join(re.sub(r"--[^\n]*", "", sql).split())


@pytest.fixture(scope="module")
def scanned(
    registry: str, session_proxy: AwsProxy, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A database with one complete scan of the seeded registry."""
    session_proxy.reset()
    path = tmp_path_factory.mktemp("sqlite") / "inventory.db"
    assert scan_into(make_config(session_proxy), open_sink(f"sqlite:{path}")).status == "complete"
    return path


def test_documented_queries_run_on_a_real_scan(scanned: Path) -> None:
    """Every SQLite query in docs/sinks.md runs and finds rows; the demo's are among them."""
    blocks = doc_blocks("SQLite")
    assert len(blocks) >= 3
    db = sqlite3.connect(scanned)
    for sql in blocks:
        assert db.execute(sql).fetchall(), sql
    assert {squash(sql) for _, sql in EXAMPLE_QUERIES} <= {squash(b) for b in blocks}


def test_database_is_owner_only(scanned: Path) -> None:
    """The database may hold IAM policies: only its owner reads it."""
    assert stat.S_IMODE(scanned.stat().st_mode) == 0o600


def test_demo_writes_sqlite_and_prints_queries_that_work(tmp_path: Path) -> None:
    """`ecr-crawler demo` leaves demo-inventory.db and prints sqlite3 commands that answer."""
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "demo", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "records written to demo-inventory.db" in done.stderr
    commands = [
        shlex.split(line) for line in done.stderr.splitlines() if line.strip().startswith("sqlite3")
    ]
    assert len(commands) == len(EXAMPLE_QUERIES)
    db = sqlite3.connect(tmp_path / "demo-inventory.db")
    for command in commands:
        assert command[-2] == "demo-inventory.db"
        assert db.execute(command[-1]).fetchall(), command[-1]
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_prune_flag_deletes_what_a_complete_scan_no_longer_sees(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """`scan --prune` removes the rows of a vanished repository and its images instead of
    marking them."""
    store = SqliteStore(tmp_path / "inventory.db")
    config = tmp_path / "config.yaml"
    config.write_text('collect:\n  manifests: "off"\n')
    scan = ["scan", "-c", str(config), "--regions", "us-east-1", "--sink", store.uri]
    assert cli(*scan, env=aws_env).code == 0
    ecr_client(proxy.upstream, "us-east-1").delete_repository(
        repositoryName="ml/trainer", force=True
    )
    try:
        result = cli(*scan, "--prune", env=aws_env)
        assert result.code == 0, result.stderr
        repositories, images = truth(proxy.upstream, ["us-east-1"])
    finally:
        reseed(proxy.upstream)
    assert {(r["region"], r["repository_name"]) for r in store.rows("repositories")} == (
        repositories
    )
    assert len(store.rows("images")) == len(active(store, "images")) == len(images)


def test_unopenable_database_is_a_config_error(tmp_path: Path) -> None:
    """A database in a missing directory fails before the scan starts."""
    with pytest.raises(ConfigError, match="no such directory"):
        open_sink(f"sqlite:{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(ConfigError, match="cannot open database"):
        open_sink(f"sqlite:{tmp_path}")  # a directory, not a database
    with pytest.raises(ConfigError, match=r"did you mean 'sqlite:x\.db'"):
        open_sink("x.db")


class Widget(Record, frozen=True, kw_only=True, tag="widget"):
    """A record type the sinks have never heard of."""

    account_id: str
    region: str
    name: str | None = None
    parts: list[dict[str, int]] = msgspec.field(default_factory=list)
    made_at: datetime | None = None


def test_a_record_type_added_later_gets_a_table(tmp_path: Path) -> None:
    """An unknown record type gets its table, typed columns, JSON for nested values and the
    safe fallback key: the same record twice in a scan is one row, in another scan another."""
    made = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    widget = Widget(scan_id="s1", account_id="1", region="r", parts=[{"a": 1}], made_at=made)
    table = table_for(Widget)
    assert (table.name, table.key) == ("widgets", ("scan_id", "record_hash"))
    assert not table.inventory

    async def write(sink: SqliteSink, *batch: Record) -> None:
        await sink.write(batch)  # type: ignore[arg-type]
        await sink.aclose()

    path = tmp_path / "x.db"
    anyio.run(write, SqliteSink(path), widget, widget)
    anyio.run(write, SqliteSink(path), msgspec.structs.replace(widget, scan_id="s2"))
    rows = SqliteStore(path).rows("widgets", "ORDER BY scan_id")
    assert [r["scan_id"] for r in rows] == ["s1", "s2"]
    assert rows[0]["parts"] == '[{"a":1}]'
    assert rows[0]["made_at"] == "2026-01-02T03:04:05.000000Z"
    assert rows[0]["record_hash"] == rows[1]["record_hash"]


def test_an_older_table_gains_new_columns(tmp_path: Path) -> None:
    """A table from an older version gets the columns it lacks and keeps its rows."""
    path = tmp_path / "x.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE images (account_id TEXT NOT NULL, region TEXT NOT NULL, "
        "repository_name TEXT NOT NULL, image_digest TEXT NOT NULL, "
        "PRIMARY KEY (account_id, region, repository_name, image_digest))"
    )
    db.execute("INSERT INTO images VALUES ('1', 'r', 'old', 'd')")
    db.commit()
    db.close()
    anyio.run(SqliteSink(path).aclose)
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(images)")}
    assert {"image_tags", "last_seen_scan_id", "deleted_at"} <= columns
    assert len(SqliteStore(path).rows("images")) == 1
