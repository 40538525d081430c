"""SQLite and PostgreSQL sinks over the emulator: reruns upsert, complete scans mark deletions,
partial and interrupted ones never do, and two scans may write one database at once."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pg
import pytest
from awsproxy import AwsProxy, Rule
from conftest import cli, ecr_client, make_config, truth
from pg import Store, active, lean_config, scan_into

from crawler.config import SinkOptions
from crawler.demo import docker_manifest, encode
from crawler.sinks import open_sink


@pytest.fixture
def server(request: pytest.FixtureRequest) -> pg.Cluster:
    """The session's PostgreSQL server (skipped without PostgreSQL, unless CI=true)."""
    return pg.shared_cluster(request.config)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An empty database of each kind (PostgreSQL: a new database on the module's server)."""
    if request.param == "sqlite":
        return pg.SqliteStore(tmp_path / "inventory.db")
    server: pg.Cluster = request.getfixturevalue("server")
    return pg.PgStore(server, server.database())


def tags(value: Any) -> tuple[str, ...]:
    """image_tags as stored: JSON text (SQLite, jsonb read without a codec) or a list."""
    return tuple(sorted(json.loads(value) if isinstance(value, str) else value))


def as_truth(store: Store, rows: str = "active") -> tuple[set[Any], list[Any]]:
    """The store's repositories and images in the shape of conftest's `truth`."""
    read = (lambda t: active(store, t)) if rows == "active" else store.rows
    repositories = {(r["region"], r["repository_name"]) for r in read("repositories")}
    images = sorted(
        (r["region"], r["repository_name"], r["image_digest"], tags(r["image_tags"]))
        for r in read("images")
    )
    return repositories, images


def test_rerun_upserts_exactly_the_emulators_inventory(store: Store, proxy: AwsProxy) -> None:
    """Two scans leave one row per repository and image, first seen by the first scan and
    last seen by the second; the scans table has both."""
    regions = ["us-east-1", "eu-west-1"]
    config = make_config(proxy, regions=regions)
    first = scan_into(config, open_sink(store.uri))
    second = scan_into(config, open_sink(store.uri))
    assert (first.status, second.status) == ("complete", "complete")
    assert as_truth(store, rows="all") == truth(proxy.upstream, regions)
    images = store.rows("images")
    assert len(images) == sum(c.images for c in second.regions.values())
    assert {r["first_seen_scan_id"] for r in images} == {first.scan_id}
    assert {r["last_seen_scan_id"] for r in images} == {second.scan_id}
    assert {r["deleted_at"] for r in images} == {None}
    scans = {r["scan_id"]: r["status"] for r in store.rows("scans")}
    assert scans == {first.scan_id: "complete", second.scan_id: "complete"}
    assert store.rows("errors") == []


def put_image(ecr: Any, repository: str, seed: str) -> str:
    text, digest = encode(docker_manifest(seed))
    ecr.put_image(repositoryName=repository, imageManifest=text, imageDigest=digest)
    return digest


@pytest.fixture
def additions(proxy: AwsProxy) -> Iterator[dict[str, Any]]:
    """Repositories of the test's own in the emulator, removed afterwards: tmp/keep (two
    images) and tmp/gone (one) in us-east-1, tmp/only (one) in us-west-2, otherwise empty."""
    us = ecr_client(proxy.upstream, "us-east-1")
    west = ecr_client(proxy.upstream, "us-west-2")
    created = [(us, "tmp/keep"), (us, "tmp/gone"), (west, "tmp/only")]
    for ecr, name in created:
        ecr.create_repository(repositoryName=name)
    digests = [put_image(us, "tmp/keep", f"keep{i}") for i in range(2)]
    put_image(us, "tmp/gone", "gone")
    put_image(west, "tmp/only", "only")
    yield {"us": us, "west": west, "keep": digests}
    for ecr, name in created:
        with contextlib.suppress(ecr.exceptions.RepositoryNotFoundException):
            ecr.delete_repository(repositoryName=name, force=True)


@pytest.mark.parametrize("prune", [False, True], ids=["mark", "prune"])
def test_only_a_complete_scan_marks_what_it_no_longer_sees(
    store: Store, proxy: AwsProxy, additions: dict[str, Any], prune: bool
) -> None:
    """After an image, a repository and a region's only repository vanish, a partial (and an
    interrupted) scan marks nothing; the next complete scan marks exactly those (or, with
    prune, deletes them), including in the region that now has no repository at all."""
    regions = ["us-east-1", "us-west-2"]
    config = lean_config(proxy, regions=regions)
    options = SinkOptions(prune=prune)
    before = scan_into(config, open_sink(store.uri, options))
    everything = as_truth(store)
    vanished = additions["keep"][0]
    additions["us"].batch_delete_image(
        repositoryName="tmp/keep", imageIds=[{"imageDigest": vanished}]
    )
    additions["us"].delete_repository(repositoryName="tmp/gone", force=True)
    additions["west"].delete_repository(repositoryName="tmp/only", force=True)

    proxy.rules.append(Rule("access_denied", operation="DescribeImages", region="us-east-1"))
    partial = scan_into(config, open_sink(store.uri, options))
    assert partial.status == "partial"
    assert partial.regions["us-west-2"].errors == 0  # complete there, but the scan is partial
    seen = {before.scan_id, partial.scan_id}
    if not prune:
        proxy.rules[:] = [Rule("latency", delay=0.02)]
        interrupted = scan_into(config, open_sink(store.uri, options), interrupt_at=1)
        assert interrupted.status == "interrupted"
        seen.add(interrupted.scan_id)
    assert as_truth(store) == everything

    proxy.rules.clear()
    final = scan_into(config, open_sink(store.uri, options))
    assert final.status == "complete"
    assert final.regions["us-west-2"].repositories == 0
    assert as_truth(store) == truth(proxy.upstream, regions)
    gone = [r for r in store.rows("images") if r["deleted_at"] is not None]
    gone_repositories = [r for r in store.rows("repositories") if r["deleted_at"] is not None]
    if prune:
        assert gone == gone_repositories == []
        assert as_truth(store, rows="all") == as_truth(store)
    else:
        assert {r["deleted_scan_id"] for r in gone + gone_repositories} == {final.scan_id}
        assert {(r["region"], r["repository_name"]) for r in gone} == {
            ("us-east-1", "tmp/keep"),
            ("us-east-1", "tmp/gone"),
            ("us-west-2", "tmp/only"),
        }
        assert vanished in {r["image_digest"] for r in gone}
        assert {(r["region"], r["repository_name"]) for r in gone_repositories} == {
            ("us-east-1", "tmp/gone"),
            ("us-west-2", "tmp/only"),
        }
        assert {r["last_seen_scan_id"] for r in gone} <= seen
    statuses = {r["scan_id"]: r["status"] for r in store.rows("scans")}
    assert statuses[partial.scan_id] == "partial"
    assert statuses[final.scan_id] == "complete"
    errors = {(r["scan_id"], r["region"], r["operation"]) for r in store.rows("errors")}
    assert errors == {(partial.scan_id, "us-east-1", "DescribeImages")}


def test_two_scans_at_once_into_one_database(
    store: Store, proxy: AwsProxy, aws_env: dict[str, str]
) -> None:
    """Two CLI scans of different regions (two CI jobs) write one database at the same time:
    both complete, every row once, neither marks the other's region deleted."""
    proxy.rules.append(Rule("latency", delay=0.02))
    regions = ["us-east-1", "eu-west-1"]

    def run(region: str) -> Any:
        return cli("scan", "--regions", region, "--sink", store.uri, env=aws_env)

    with ThreadPoolExecutor(len(regions)) as pool:
        results = list(pool.map(run, regions))
    assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
    assert as_truth(store, rows="all") == truth(proxy.upstream, regions)
    assert [r["status"] for r in store.rows("scans")] == ["complete", "complete"]
    assert pg.PG_PASSWORD not in "".join(r.stderr + r.stdout for r in results)
