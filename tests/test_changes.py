"""Change records between two scans: `diff OLD NEW` and `scan --emit-changes`, into JSON lines
or a SQLite database."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from awsproxy import AwsProxy, Rule
from conftest import cli, ecr_client
from pg import summary

from crawler.changes import State, diff, previous_scan
from crawler.demo import docker_manifest, encode
from crawler.errors import ConfigError
from crawler.records import (
    Image,
    RegionCounts,
    Repository,
    RepositoryScanningConfiguration,
    ScanRecord,
    ScanSummary,
)
from crawler.sinks import open_sink
from crawler.sinks.sqlite import SqliteSink

REGION = "eu-west-1"


def scan_to(path: Path, env: dict[str, str], *extra: str) -> list[dict[str, Any]]:
    result = cli("scan", "--regions", REGION, "--sink", f"jsonl:{path}", *extra, env=env)
    assert result.code in (0, 1), result.stderr
    return [json.loads(line) for line in path.read_text().splitlines()]


def change_the_registry(moto: str) -> dict[str, str]:
    """An image pushed, one deleted, `latest` moved to a new digest, a setting changed."""
    ecr = ecr_client(moto, REGION)
    images = ecr.describe_images(repositoryName="web/frontend")["imageDetails"]
    latest = next(i["imageDigest"] for i in images if "latest" in i.get("imageTags", []))
    gone = next(i["imageDigest"] for i in images if not i.get("imageTags"))
    ecr.batch_delete_image(repositoryName="web/frontend", imageIds=[{"imageDigest": gone}])
    text, added = encode(docker_manifest("web/frontend/next"))
    ecr.put_image(
        repositoryName="web/frontend", imageManifest=text, imageDigest=added, imageTag="latest"
    )
    ecr.put_image_tag_mutability(repositoryName="base/python", imageTagMutability="IMMUTABLE")
    return {"added": added, "gone": gone, "old_latest": latest}


@pytest.fixture(scope="module")
def scans(registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"dir": tmp_path_factory.mktemp("scans")}


def test_diff_reports_added_removed_retagged_and_changed(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """diff OLD NEW: the pushed image, the deleted one, `latest` moving and the new setting."""
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    scan_to(old, aws_env)
    moved = change_the_registry(proxy.upstream)
    scan_to(new, aws_env)

    result = cli("diff", str(old), str(new), env=aws_env)
    assert result.code == 0, result.stderr
    changes = result.records()
    kinds = {(c["change"], c["repository_name"]) for c in changes}
    assert kinds == {
        ("image_added", "web/frontend"),
        ("image_removed", "web/frontend"),
        ("tag_moved", "web/frontend"),
        ("repository_changed", "base/python"),
    }
    by_kind = {c["change"]: c for c in changes}
    assert by_kind["image_added"]["image_digest"] == moved["added"]
    assert by_kind["image_removed"]["image_digest"] == moved["gone"]
    assert (by_kind["tag_moved"]["tag"], by_kind["tag_moved"]["old_digest"]) == (
        "latest",
        moved["old_latest"],
    )
    assert by_kind["tag_moved"]["new_digest"] == moved["added"]
    assert by_kind["repository_changed"]["fields"] == ["image_tag_mutability"]
    assert all(
        c["previous_scan_id"] == json.loads(old.read_text().splitlines()[-1])["scan_id"]
        for c in changes
    )


def test_emit_changes_compares_with_the_previous_scan_in_the_sink(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """--emit-changes: the first scan has no changes, the second lists what moved, before its
    summary; a pipeline can keep only the change records."""
    path = tmp_path / "inventory.jsonl"
    first = scan_to(path, aws_env, "--emit-changes")
    assert not [r for r in first if r["type"] == "change"]
    ecr = ecr_client(proxy.upstream, REGION)
    text, digest = encode(docker_manifest("emit-changes"))
    ecr.put_image(repositoryName="api/orders", imageManifest=text, imageDigest=digest)

    second = scan_to(path, aws_env, "--emit-changes")
    changes = [r for r in second if r["type"] == "change"]
    assert [(c["change"], c["image_digest"]) for c in changes] == [("image_added", digest)]
    assert second[-1]["type"] == "scan_summary"
    assert second.index(changes[0]) == len(second) - 2


def test_failed_region_never_looks_like_deleted_images(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """A region that failed in the new scan reports no removals, only the failure."""
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    scan_to(old, aws_env)
    proxy.rules.append(Rule("access_denied", operation="DescribeRepositories", region=REGION))
    scan_to(new, aws_env)
    result = cli("diff", str(old), str(new), env=aws_env)
    assert result.code == 0
    assert result.records() == []


def test_diff_refuses_an_unfinished_scan(aws_env: dict[str, str], tmp_path: Path) -> None:
    """A file without a finished summary is not a scan to compare: exit 2, one line."""
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"type":"error"}\n')
    result = cli("diff", str(broken), str(broken), env=aws_env)
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_emit_changes_into_a_sqlite_database(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """--emit-changes with a SQLite sink compares with the database's last scan: none the first
    time, then the pushed image, in the `changes` table."""
    path = tmp_path / "inventory.db"
    scan = ("scan", "--regions", REGION, "--sink", f"sqlite:{path}", "--emit-changes")
    first = cli(*scan, env=aws_env)
    assert first.code == 0, first.stderr
    assert sqlite3.connect(path).execute("SELECT count(*) FROM changes").fetchone() == (0,)
    ecr = ecr_client(proxy.upstream, REGION)
    text, digest = encode(docker_manifest("emit-changes-sqlite"))
    ecr.put_image(repositoryName="api/orders", imageManifest=text, imageDigest=digest)

    second = cli(*scan, env=aws_env)
    assert second.code == 0, second.stderr
    rows = sqlite3.connect(path).execute("SELECT change, image_digest FROM changes").fetchall()
    assert rows == [("image_added", digest)]


def test_emit_changes_help_names_the_sinks_it_compares_with(aws_env: dict[str, str]) -> None:
    """`scan --help` names, for --emit-changes, the sinks its refusal names (jsonl and sqlite)."""
    with pytest.raises(ConfigError) as refused:
        previous_scan("-")
    found = re.search(r"needs a (.+?) sink", str(refused.value))
    assert found is not None
    usage = " ".join(cli("scan", "--help", env=aws_env).stdout.split())
    assert f"previous scan in the {found[1]} sink" in usage


def test_a_database_whose_last_scan_was_interrupted_has_nothing_to_compare(
    tmp_path: Path,
) -> None:
    """A database's rows after an interrupted scan are half of two scans: no previous state
    (no change records this time); after a finished scan, that scan is the previous one."""
    path = tmp_path / "inventory.db"
    assert previous_scan(f"sqlite:{path}") is None  # no database yet

    async def write(last: ScanSummary) -> None:
        sink = SqliteSink(path)
        await sink.write([last])
        await sink.aclose()

    anyio.run(write, summary(scan_id="s1"))
    previous = previous_scan(f"sqlite:{path}")
    assert previous is not None
    assert previous.scan_id == "s1"
    later = datetime(2027, 1, 1, tzinfo=UTC)
    anyio.run(write, summary(scan_id="s2", status="interrupted", finished_at=later))
    assert previous_scan(f"sqlite:{path}") is None


@pytest.mark.parametrize("sink", ["-", "parquet:out", "postgresql://crawler:s3cret-pw@db/inv"])
def test_emit_changes_needs_a_sink_it_can_read_back(sink: str) -> None:
    """Other sinks are refused up front, naming the two that work, without a password."""
    with pytest.raises(ConfigError, match="jsonl:PATH or sqlite:PATH") as refused:
        previous_scan(sink)
    assert "s3cret-pw" not in str(refused.value)


def repository_scan(scan_id: str, **settings: Any) -> State:
    """A finished scan of one complete region holding repository "app" with `settings`."""
    state = State()
    state.add(
        Repository(
            scan_id=scan_id,
            account_id="1",
            region=REGION,
            registry_id="1",
            repository_name="app",
            **{"image_tag_mutability": "MUTABLE", **settings},
        )
    )
    state.add(summary(scan_id=scan_id, accounts={"1": {REGION: RegionCounts(repositories=1)}}))
    return state


# What collect.policies, collect.tags and collect.scan_findings add to a repository record.
COLLECTED: dict[str, Any] = {
    "lifecycle_policy": {"rules": [{"rulePriority": 1}]},
    "repository_policy": {"Statement": []},
    "tags": {"team": "web"},
    "scanning_configuration": RepositoryScanningConfiguration(scan_frequency="SCAN_ON_PUSH"),
}


@pytest.mark.parametrize("collected_by", ["old", "new"])
def test_fields_one_scan_did_not_collect_are_not_changes(collected_by: str) -> None:
    """Scans with different `collect:`: a setting null on one side is unknown, not changed."""
    full, lean = repository_scan("full", **COLLECTED), repository_scan("lean")
    old, new = (full, lean) if collected_by == "old" else (lean, full)
    assert list(diff(old, new)) == []


def test_a_setting_both_scans_know_still_changes() -> None:
    """Null is skipped field by field: a known setting that differs is reported, and a policy
    or tag set removed ({}, not null) is a change."""
    old = repository_scan("old", image_tag_mutability="MUTABLE", tags={"team": "web"})
    new = repository_scan("new", image_tag_mutability="IMMUTABLE", tags={}, lifecycle_policy={})
    [change] = diff(old, new)
    assert change.change == "repository_changed"
    assert change.fields == ["image_tag_mutability", "tags"]


def saved_scan(uri: str, scan_id: str, digests: list[str]) -> None:
    """A finished scan of repository "app" holding `digests`, written by the sink at `uri`."""
    base: dict[str, Any] = {"scan_id": scan_id, "account_id": "1", "region": REGION}
    records: list[ScanRecord] = [
        Repository(**base, registry_id="1", repository_name="app", tags={"team": "web"}),
        *(
            Image(
                **base,
                registry_id="1",
                repository_name="app",
                image_digest=digest,
                image_tags=[],
                image_uri=f"1.dkr.ecr.{REGION}.amazonaws.com/app@{digest}",
            )
            for digest in digests
        ),
        summary(scan_id=scan_id, accounts={"1": {REGION: RegionCounts(repositories=1)}}),
    ]

    async def write() -> None:
        sink = open_sink(uri)
        await sink.write(records)
        await sink.aclose()

    anyio.run(write)


def test_diff_reads_json_lines_and_sqlite_as_its_help_says(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    """diff OLD.jsonl NEW.db: the image the database's scan added, nothing else; --help names
    both formats."""
    old, new = tmp_path / "old.jsonl", tmp_path / "new.db"
    saved_scan(f"jsonl:{old}", "old", ["sha256:a"])
    saved_scan(f"sqlite:{new}", "new", ["sha256:a", "sha256:b"])
    result = cli("diff", str(old), str(new), env=aws_env)
    assert result.code == 0, result.stderr
    assert [(c["change"], c["image_digest"]) for c in result.records()] == [
        ("image_added", "sha256:b")
    ]
    usage = " ".join(cli("diff", "--help", env=aws_env).stdout.split())
    assert "JSON lines sink" in usage
    assert "SQLite sink" in usage
