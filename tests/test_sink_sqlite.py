"""The SQLite sink: the documented queries run on a real scan, the demo writes SQLite and prints
queries that work, `--prune`, WAL mode, migration, and tables for record types added later."""

from __future__ import annotations

import re
import shlex
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import pytest
from awsproxy import AwsProxy, Rule
from conftest import cli, ecr_client, make_config, reseed, truth
from pg import SqliteStore, active, doc_blocks, scan_into, summary
from scanning import model_scanning

from crawler.compliance import Report, run_checks
from crawler.errors import ConfigError
from crawler.records import Error, Record, RegionCounts, ScanRecord
from crawler.sinks import Sink, open_sink
from crawler.sinks.saved import open_saved
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


async def write(sink: SqliteSink, *batch: Record) -> None:
    """One batch, then close."""
    await sink.write(batch)  # type: ignore[arg-type]
    await sink.aclose()


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


@dataclass
class Tee:
    """A real sink that also keeps every record it is given, to compare with what it saved."""

    inner: Sink
    records: list[ScanRecord] = field(default_factory=list)

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        self.records.extend(batch)
        await self.inner.write(batch)

    async def aclose(self) -> None:
        await self.inner.aclose()


def outcomes(report: Report) -> set[tuple[str, str, int, int]]:
    return {(o.rule.id, o.status, o.checked, o.unknown) for o in report.outcomes}


def test_checks_over_a_database_match_the_live_scan_errors_included(
    proxy: AwsProxy, tmp_path: Path
) -> None:
    """A scan whose scan results could not all be read (DescribeImageScanFindings denied, in
    AWS-native scanning): the database gives back its `error` records, so the checks over it
    tell "not collected" from "never scanned" as the live scan's did."""
    model_scanning(proxy, {"us-east-1": "AWS_NATIVE"})
    proxy.rules.append(Rule("access_denied", operation="DescribeImageScanFindings"))
    path = tmp_path / "inventory.db"
    tee = Tee(SqliteSink(path))
    live = scan_into(make_config(proxy, regions=["us-east-1"]), tee)
    errors = [r for r in tee.records if isinstance(r, Error)]
    assert any(e.operation == "DescribeImageScanFindings" for e in errors)

    saved = open_saved(str(path))
    again = list(saved.records)
    assert {e for e in again if isinstance(e, Error)} == set(errors)
    assert again[-1] == live
    assert outcomes(run_checks(again, as_of=live.started_at)) == outcomes(
        run_checks(tee.records, as_of=live.started_at)
    )


def test_a_database_gives_the_errors_of_the_scan_that_last_covered_each_region(
    tmp_path: Path,
) -> None:
    """Two scans into one database: a region's errors are those of the latest scan that
    covered it; an error a later scan of that region no longer had is gone."""
    path = tmp_path / "inventory.db"

    def error(scan_id: str, region: str) -> Error:
        return Error(
            scan_id=scan_id,
            account_id="1",
            region=region,
            operation="DescribeImageScanFindings",
            error_code="AccessDenied",
            message=f"{scan_id} in {region}",
        )

    def scan(scan_id: str, at: int, *regions: str, failing: tuple[str, ...] = ()) -> None:
        done = datetime(2026, 1, 1, at, tzinfo=UTC)
        counts = {r: RegionCounts(errors=int(r in failing)) for r in regions}
        last = summary(scan_id=scan_id, finished_at=done, regions=counts, accounts={"1": counts})
        batch: list[ScanRecord] = [*(error(scan_id, r) for r in failing), last]
        anyio.run(write, SqliteSink(path), *batch)

    scan("s1", 1, "us-east-1", "eu-west-1", failing=("us-east-1", "eu-west-1"))
    scan("s2", 2, "us-east-1")  # us-east-1 again, without its error
    found = [r.message for r in open_saved(str(path)).records if isinstance(r, Error)]
    assert found == ["s1 in eu-west-1"]
