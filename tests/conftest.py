"""Fixtures: a moto ECR server on 127.0.0.1 seeded with the demo registry, the fault-injecting
proxy in front of it, and helpers to run scans in-process and through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from aiobotocore.session import AioSession
from awsproxy import AwsProxy

from crawler.config import Config, load_config
from crawler.demo import run_emulator, seed
from crawler.graph import scan
from crawler.records import ScanRecord, ScanSummary

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
ACCESS_KEY = "AKIATESTTESTTESTTEST"
# A unique marker: tests search every output for it.
SECRET_KEY = "s3cr3t-MARKER-5b1f0c9e-never-print-me"
FAST_RETRY: dict[str, Any] = {
    "retry.base_delay_seconds": 0.01,
    "retry.max_delay_seconds": 0.05,
    "timeouts.read_seconds": 5,
}


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with run_emulator() as url:
        yield url


# The scope of a manifest record parsed outside a scan.
MANIFEST_SCOPE = {
    "scan_id": "s",
    "account_id": "1",
    "region": "r",
    "registry_id": "1",
    "repository_name": "x",
    "image_digest": "sha256:0",
}


def reseed(moto_url: str) -> None:
    """Back to the demo registry: moto's state is shared by every server in the process."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request) as reply:
        assert reply.status == 200
    seed(moto_url, REGIONS)


@pytest.fixture(scope="module")
def registry(moto_url: str) -> str:
    reseed(moto_url)
    return moto_url


@pytest.fixture(scope="session")
def session_proxy(moto_url: str) -> Iterator[AwsProxy]:
    with AwsProxy(moto_url, page_cap=2, seed=11) as proxy:
        yield proxy


@pytest.fixture
def proxy(session_proxy: AwsProxy, registry: str) -> AwsProxy:
    """The proxy over the seeded registry, with small pages and no faults, scanning as Clair
    basic scanning does in every region (tests/scanning.py; a test may install other modes),
    with no signing rules, no creation templates and moto's replication rules
    (tests/registry_model.py; a test may install others)."""
    from registry_model import model_registry
    from scanning import model_scanning  # it imports this module

    session_proxy.reset()
    model_scanning(session_proxy, {})
    model_registry(session_proxy)
    return session_proxy


@pytest.fixture
def aws_env(proxy: AwsProxy, tmp_path: Any) -> dict[str, str]:
    """An environment for the CLI: test keys, the proxy as endpoint, no profile files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_ENDPOINT_URL=proxy.url,
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=tempfile.mkdtemp(prefix="ecr-crawler-cache-"),
    )
    return env


@dataclass
class ListSink:
    """A real sink that keeps records in memory."""

    records: list[ScanRecord] = field(default_factory=list)
    closed: bool = False

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        self.records.extend(batch)

    async def aclose(self) -> None:
        self.closed = True

    def of(self, kind: str) -> list[Any]:
        return [r for r in self.records if type(r).__name__.lower() == kind.replace("_", "")]


def make_config(proxy: AwsProxy, regions: str | list[str] = REGIONS, **overrides: Any) -> Config:
    """Config for an in-process scan through the proxy, with a manifest cache of its own."""
    cache = tempfile.mkdtemp(prefix="ecr-crawler-cache-")
    return load_config(
        None,
        regions=regions,
        endpoint_url=proxy.url,
        cache_dir=cache,
        **{**FAST_RETRY, **overrides},
    )


def run_scan(config: Config) -> tuple[ScanSummary, ListSink]:
    """A scan in this process with the test keys; returns the summary and the records."""
    session = AioSession()
    session.set_credentials(ACCESS_KEY, SECRET_KEY)
    sink = ListSink()
    summary = anyio.run(lambda: scan(config, sink, session=session))
    return summary, sink


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def records(self) -> list[dict[str, Any]]:
        return [msgspec.json.decode(line) for line in self.stdout.splitlines()]


def cli(*args: str, env: dict[str, str], timeout: float = 60, cwd: Path | None = None) -> Result:
    """Run `python -m crawler ARGS` as a user would (in `cwd`); stdout and stderr apart."""
    done = subprocess.run(
        [sys.executable, "-m", "crawler", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def ecr_client(moto_url: str, region: str) -> Any:
    """A boto3 client straight to moto, around the proxy: the ground truth."""
    import boto3

    return boto3.client(
        "ecr",
        region_name=region,
        endpoint_url=moto_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def truth(moto_url: str, regions: Iterable[str]) -> tuple[set[Any], list[Any]]:
    """Repositories as (region, name) and images as (region, repository, digest, tags)."""
    repositories, images = set(), []
    for region in regions:
        ecr = ecr_client(moto_url, region)
        for repo in ecr.describe_repositories()["repositories"]:
            name = repo["repositoryName"]
            repositories.add((region, name))
            for image in ecr.describe_images(repositoryName=name)["imageDetails"]:
                tags = tuple(sorted(image.get("imageTags", ())))
                images.append((region, name, image["imageDigest"], tags))
    return repositories, sorted(images)


def inventory(records: Sequence[Any]) -> tuple[set[Any], list[Any]]:
    """The same shape as `truth`, from a scan's records (duplicates kept, to be caught)."""
    repositories = {
        (r.region, r.repository_name) for r in records if r.__class__.__name__ == "Repository"
    }
    images = sorted(
        (r.region, r.repository_name, r.image_digest, tuple(r.image_tags))
        for r in records
        if r.__class__.__name__ == "Image"
    )
    return repositories, images
