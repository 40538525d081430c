"""The simulator's artifacts of every kind (bench/simulator/artifacts.py), and a scan of a
registry of mixed kinds: exact, without error records, each image of the kind it was drawn as,
and nothing asked twice."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiobotocore.session import AioSession
from conftest import ListSink

import crawler.ecr.manifests
from bench.simulator import Registry, SimulatorHandle, access_key, parse_scenario, run_simulator
from bench.simulator.artifacts import ARTIFACTS, REFERRERS
from crawler.config import load_config
from crawler.graph import scan
from crawler.media_types import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

ACCOUNT = "123456789012"
REGION = "us-east-1"
# The registry of issue 20: 6% signed schema 1 images and 4% Helm charts, and the rest.
KINDS = {
    "schema1": 0.06,
    "helm": 0.04,
    "cosign_signature": 0.08,
    "sbom": 0.08,
    "attestation": 0.08,
    "artifact_manifest": 0.04,
    "windows": 0.05,
    "zstd": 0.05,
}
SCENARIO: dict[str, Any] = {
    "name": "kinds",
    "seed": 3,
    "accounts": [ACCOUNT],
    "regions": [REGION],
    "repositories_per_region": 8,
    "images": {"distribution": "fixed", "value": 60},
    "multi_arch_fraction": 0.1,
    "archived_fraction": 0.05,
    "kinds": KINDS,
    "page_cap": 7,
}
# What the crawler must call each drawn artifact.
EXPECTED = {
    "schema1": "container_image",
    "helm": "helm_chart",
    "cosign_signature": "signature",
    "sbom": "sbom",
    "attestation": "attestation",
    "artifact_manifest": "artifact",
    "windows": "container_image",
    "zstd": "container_image",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator(parse_scenario(SCENARIO)) as handle:
        yield handle


def _truth(registry: Registry) -> dict[str, tuple[str, str | None]]:
    """digest -> (the kind the crawler must say, the subject it must name)."""
    truth: dict[str, tuple[str, str | None]] = {}
    for repo in registry.repositories(ACCOUNT, REGION):
        for i in range(repo.image_count):
            meta = registry.meta(repo, i)
            served = registry.served(repo, meta)
            subject = served.subject
            if meta.artifact is not None:
                kind = EXPECTED[meta.artifact]
                if meta.artifact == "cosign_signature":
                    subject = registry.digest(repo, registry.meta(repo, i - 1))
            else:
                kind = "image_index" if meta.kind == "index" else "container_image"
            truth[registry.digest(repo, meta)] = (kind, subject)
    return truth


def _scan(sim: SimulatorHandle, cache: Path, **collect: Any) -> ListSink:
    config = load_config(
        None, regions=[REGION], endpoint_url=sim.url, cache_dir=str(cache), **collect
    )
    session = AioSession()
    session.set_credentials(access_key(ACCOUNT), "anything")
    sink = ListSink()
    summary = anyio.run(lambda: scan(config, sink, session=session))
    assert summary.status == "complete"
    return sink


def test_every_kind_is_drawn_and_served_as_its_spec_says() -> None:
    """Each artifact is drawn; an attached one follows its subject; digests hash the served
    text; a cosign tag finds its signature; referrers answer ListImageReferrers."""
    registry = Registry(parse_scenario(SCENARIO))
    drawn: Counter[str | None] = Counter()
    for repo in registry.repositories(ACCOUNT, REGION):
        for i in range(repo.image_count):
            meta = registry.meta(repo, i)
            drawn[meta.artifact] += 1
            text = registry.served(repo, meta).text
            assert (
                registry.digest(repo, meta) == f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
            )
            if meta.artifact == "cosign_signature":
                [tag] = meta.tags
                assert registry.find_tag(repo, tag) == i
            if meta.artifact in REFERRERS:
                assert meta.tags == ()
                subject = registry.digest(repo, registry.meta(repo, i - 1))
                assert registry.served(repo, meta).subject == subject
    assert set(ARTIFACTS) <= set(drawn)
    assert drawn[None] > sum(n for kind, n in drawn.items() if kind)


def test_without_kinds_no_artifact_is_drawn() -> None:
    """A scenario without `kinds` serves container images and indexes only, as before."""
    registry = Registry(parse_scenario({**SCENARIO, "kinds": {}}))
    for repo in registry.repositories(ACCOUNT, REGION):
        assert all(registry.meta(repo, i).artifact is None for i in range(repo.image_count))


def test_scan_of_mixed_kinds_is_exact_and_asks_nothing_twice(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    """No error record; every image has its manifest record and the kind it was drawn as, a
    cosign signature names its subject; the second scan makes no BatchGetImage call."""
    sim.reset()
    sink = _scan(sim, tmp_path)
    assert sink.of("error") == []
    truth = _truth(Registry(sim.scenario))
    images = {i.image_digest: i for i in sink.of("image")}
    assert sorted(images) == sorted(truth)
    found = {d: (i.artifact_kind, i.subject_digest) for d, i in images.items()}
    assert found == truth
    manifests = {m.image_digest: m for m in sink.of("imagemanifest")}
    assert sorted(manifests) == sorted(images)
    assert all(m.artifact_kind == images[d].artifact_kind for d, m in manifests.items())
    assert {m.unavailable for m in manifests.values()} == {None}
    first = sim.stats().calls["BatchGetImage"]
    assert first >= 8

    sim.reset()
    again = _scan(sim, tmp_path)
    assert sim.stats().calls.get("BatchGetImage", 0) == 0
    assert len(again.of("imagemanifest")) == len(manifests)


def test_types_left_out_fail_once_and_are_remembered(
    sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked as before issue 20 (no schema 1, no artifact manifest), those images fail with
    UnsupportedImageType: a manifest record says so, no error record, and the next scan asks
    for none of them."""
    monkeypatch.setattr(
        crawler.ecr.manifests,
        "ACCEPTED_MEDIA_TYPES",
        [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX],
    )
    sim.reset()
    sink = _scan(sim, tmp_path)
    assert sink.of("error") == []
    failed = {m.image_digest for m in sink.of("imagemanifest") if m.unavailable}
    registry = Registry(sim.scenario)
    left_out = {
        registry.digest(repo, meta)
        for repo in registry.repositories(ACCOUNT, REGION)
        for meta in (registry.meta(repo, i) for i in range(repo.image_count))
        if meta.artifact in ("schema1", "artifact_manifest")
    }
    assert failed == left_out
    sim.reset()
    _scan(sim, tmp_path)
    assert sim.stats().calls.get("BatchGetImage", 0) == 0


def test_referrers_are_listed(sim: SimulatorHandle, tmp_path: Path) -> None:
    """With collect.referrers, each SBOM, attestation and artifact manifest is listed on its
    subject's manifest record."""
    sim.reset()
    sink = _scan(sim, tmp_path, **{"collect.referrers": True})
    images = {i.image_digest: i for i in sink.of("image")}
    listed = {r.digest: m.image_digest for m in sink.of("imagemanifest") for r in m.referrers or ()}
    attached = {
        d: i.subject_manifest_digest for d, i in images.items() if i.subject_manifest_digest
    }
    assert listed == attached
    assert attached
