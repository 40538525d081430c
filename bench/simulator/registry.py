"""The synthetic registry of a scenario, generated deterministically and lazily.

Only the repositories and their image counts are computed up front (a few hundred bytes per
repository). Image `i` of a repository is computed on demand from a hash of (seed, account,
region, repository, i): its tags, status and scan results come from the hash's bits, its
manifest from derived layer digests, and its digest is the sha256 of that manifest text, as in
ECR. A scenario of a million images therefore costs the simulator memory for its repositories
only.

Multi-arch images: a repository's images are cut into blocks of `1 + platforms`; a block drawn
as multi-arch holds an OCI image index followed by its platform images, which are untagged
images of their own (as ECR lists them). A partial last block holds plain images.

Artifacts (bench/simulator/artifacts.py): with a scenario's `kinds`, a plain image may be drawn
as a schema 1 image, a Helm chart, a signature, SBOM or attestation of the image before it, a
Windows or a zstd image.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Literal

import msgspec

from bench.simulator.artifacts import (
    ARTIFACTS,
    ATTACHED,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    NOT_SCANNED,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    REFERRERS,
    Artifact,
    Served,
    artifact_manifest,
    cosign_tag,
)
from bench.simulator.counts import draw_counts
from bench.simulator.findings import ScanDraw, draw_counts_of, in_describe_images
from bench.simulator.names import COSIGN_TAG, LATEST, TAG_PARSERS, repository_name, tags_of
from bench.simulator.names import access_key as access_key
from bench.simulator.names import account_of as account_of
from bench.simulator.scenario import SCAN_STATUSES, ScanMode, Scenario
from bench.simulator.shapes import ImageDetail, ImageScanFindingsSummary, ImageScanStatus

PLATFORMS = (
    '{"architecture":"amd64","os":"linux"}',
    '{"architecture":"arm64","os":"linux","variant":"v8"}',
    '{"architecture":"arm","os":"linux","variant":"v7"}',
    '{"architecture":"ppc64le","os":"linux"}',
    '{"architecture":"s390x","os":"linux"}',
    '{"architecture":"386","os":"linux"}',
    '{"architecture":"riscv64","os":"linux"}',
    '{"architecture":"mips64le","os":"linux"}',
)
# Timestamps fall between 2021-01-01 and 2026-01-01 (epoch seconds, as ECR's JSON has them).
EPOCH_START = 1_609_459_200.0
EPOCH_NOW = 1_767_225_600.0
# Where each property of an image sits in its 160-bit hash: 16 bits each, independent draws.
UNTAGGED, MULTI_TAG, ARCHIVED, PUSHED, PULLED, PULL_TIME, SCAN = 0, 16, 32, 48, 64, 80, 96
EXTRA_TAGS, FORMAT, LAYERS, SIZES, SEVERITY = 112, 114, 115, 117, 144
# Digest -> index maps built for lookups (BatchGetImage, DescribeImages by imageIds) are kept
# for the most recently used repositories, up to this many entries in all.
DIGEST_CACHE_ENTRIES = 2_000_000

Kind = Literal["plain", "index", "child"]


def _unit(bits: int, shift: int) -> float:
    """16 bits of a hash as a fraction in [0, 1)."""
    return ((bits >> shift) & 0xFFFF) / 65536.0


@dataclass(eq=False)
class Repository:
    account: str
    region: str
    name: str
    position: int  # order in DescribeRepositories
    image_count: int
    key: bytes  # the hash key of everything derived for this repository
    created_at: float
    mutability: str
    scan_on_push: bool
    kms: bool
    base_layers: tuple[str, ...]
    latest: int | None = field(default=None, repr=False)  # computed on first use

    @property
    def arn(self) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account}:repository/{self.name}"

    @property
    def uri(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{self.name}"


class ImageMeta(msgspec.Struct, frozen=True, gc=False):
    """What filters and lookups need, without building the manifest."""

    index: int
    kind: Kind
    head: int  # the index of its multi-arch group's index (itself when plain)
    tags: tuple[str, ...]
    archived: bool
    bits: int
    artifact: Artifact | None = None  # None: a container image (or an index)

    @property
    def no_scan(self) -> bool:
        """An index or an artifact no scanner reads: no scan result of its own."""
        return self.kind == "index" or self.artifact in NOT_SCANNED


class Registry:
    """Every account-region's repositories of a scenario, and their images on demand."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._seed = str(scenario.seed).encode()
        self._block = 1 + scenario.platforms
        weights = [scenario.scan_status.get(s, 0.0) for s in SCAN_STATUSES]
        self._scan_cdf = [w / sum(weights) for w in accumulate(weights)][:-1]
        self._last_block: tuple[bytes, int, bool] = (b"", -1, False)
        # (artifact, cumulative fraction) of the scenario's kinds; empty: no artifacts at all.
        kinds = [(name, scenario.kinds[name]) for name in ARTIFACTS if scenario.kinds.get(name)]
        totals = accumulate(weight for _, weight in kinds)
        self._kinds = [(name, total) for (name, _), total in zip(kinds, totals, strict=True)]
        self._repos: dict[tuple[str, str], list[Repository]] = {}
        self._by_name: dict[tuple[str, str, str], Repository] = {}
        self._digests: OrderedDict[bytes, dict[str, int]] = OrderedDict()
        self._digest_entries = 0
        for (account, region), counts in draw_counts(scenario).items():
            repos = [self._repository(account, region, p, n) for p, n in enumerate(counts)]
            self._repos[(account, region)] = repos
            self._by_name.update({(account, region, r.name): r for r in repos})

    # -- repositories -------------------------------------------------------------------------

    def account_regions(self) -> list[tuple[str, str]]:
        return list(self._repos)

    def repositories(self, account: str, region: str) -> list[Repository]:
        """The repositories in DescribeRepositories order; none for a region not in the
        scenario (AWS answers such a region with an empty registry)."""
        return self._repos.get((account, region), [])

    def repository(self, account: str, region: str, name: str) -> Repository | None:
        return self._by_name.get((account, region, name))

    def _repository(self, account: str, region: str, position: int, count: int) -> Repository:
        name = repository_name(position)
        key = hashlib.blake2b(f"{account}/{region}/{name}".encode(), key=self._seed).digest()
        bits = int.from_bytes(key[:8], "big")
        created = EPOCH_START + _unit(bits, 0) * (EPOCH_NOW - EPOCH_START) * 0.5
        return Repository(
            account=account,
            region=region,
            name=name,
            position=position,
            image_count=count,
            key=key,
            created_at=round(created, 3),
            mutability="IMMUTABLE" if _unit(bits, 16) < 0.3 else "MUTABLE",
            scan_on_push=_unit(bits, 32) < 0.6,
            kms=_unit(bits, 48) < 0.2,
            base_layers=tuple(hashlib.sha256(key + bytes([k])).hexdigest() for k in range(3)),
        )

    # -- images -------------------------------------------------------------------------------

    def _bits(self, repo: Repository, i: int) -> int:
        data = repo.key + i.to_bytes(5, "big")
        return int.from_bytes(hashlib.blake2b(data, digest_size=20).digest(), "big")

    def _is_multi_arch(self, repo: Repository, block: int) -> bool:
        # Pages walk images in order: the last block's draw answers two calls out of three.
        key, last, answer = self._last_block
        if key is repo.key and last == block:
            return answer
        data = repo.key + b"B" + block.to_bytes(5, "big")
        draw = int.from_bytes(hashlib.blake2b(data, digest_size=2).digest(), "big") / 65536.0
        answer = draw < self.scenario.multi_arch_fraction
        self._last_block = (repo.key, block, answer)
        return answer

    def _kind(self, repo: Repository, i: int) -> tuple[Kind, int]:
        size = self._block
        start = i - i % size
        if start + size > repo.image_count or not self._is_multi_arch(repo, start // size):
            return "plain", i
        return ("index" if i == start else "child"), start

    def _artifact(self, repo: Repository, i: int, kind: Kind) -> Artifact | None:
        """The artifact plain image `i` is drawn as (None without `kinds`, or a container
        image); an attached one needs a plain image before it that is not attached itself."""
        if not self._kinds or kind != "plain":
            return None
        artifact = self._drawn(repo, i)
        if artifact in ATTACHED and (
            i == 0 or self._kind(repo, i - 1)[0] != "plain" or self._drawn(repo, i - 1) in ATTACHED
        ):
            return None
        return artifact

    def _drawn(self, repo: Repository, i: int) -> Artifact | None:
        data = repo.key + b"K" + i.to_bytes(5, "big")
        draw = int.from_bytes(hashlib.blake2b(data, digest_size=2).digest(), "big") / 65536.0
        return next((name for name, total in self._kinds if draw < total), None)

    def _tagged(self, kind: Kind, bits: int) -> bool:
        return kind != "child" and _unit(bits, UNTAGGED) >= self.scenario.untagged_fraction

    def meta(self, repo: Repository, i: int) -> ImageMeta:
        kind, head = self._kind(repo, i)
        bits = self._bits(repo, i)
        artifact = self._artifact(repo, i, kind) if self._kinds else None
        tags: tuple[str, ...] = ()
        if artifact == "cosign_signature":
            tags = (cosign_tag(self.digest(repo, self.meta(repo, i - 1))),)
        elif self._tagged(kind, bits) and artifact not in REFERRERS:
            extra = 0
            if _unit(bits, MULTI_TAG) < self.scenario.multi_tag_fraction:
                extra = 1 + (bits >> EXTRA_TAGS) % 3
            tags = tags_of(i, extra, i == self.latest(repo))
        # A multi-arch index and its platform images are archived together.
        head_bits = bits if head == i else self._bits(repo, head)
        archived = _unit(head_bits, ARCHIVED) < self.scenario.archived_fraction
        return ImageMeta(i, kind, head, tags, archived, bits, artifact)

    def latest(self, repo: Repository) -> int:
        """The tagged image with the highest index also carries "latest" (-1: none does), never
        a signature, SBOM or attestation."""
        if repo.latest is None:
            repo.latest = -1
            for i in range(repo.image_count - 1, -1, -1):
                kind = self._kind(repo, i)[0]
                if self._tagged(kind, self._bits(repo, i)) and (
                    self._artifact(repo, i, kind) not in ATTACHED
                ):
                    repo.latest = i
                    break
        return repo.latest

    def manifest(self, repo: Repository, meta: ImageMeta) -> tuple[str, str, str | None]:
        """The manifest text, its media type and the artifact (config) media type."""
        if meta.artifact is not None:
            return self.served(repo, meta)[:3]
        i = meta.index
        if meta.kind == "index":
            entries = []
            for p in range(1, self._block):
                text, media, _ = self.manifest(repo, self.meta(repo, i + p))
                digest = hashlib.sha256(text.encode()).hexdigest()
                entries.append(
                    f'{{"mediaType":"{media}","digest":"sha256:{digest}",'
                    f'"size":{len(text)},"platform":{PLATFORMS[p - 1]}}}'
                )
            text = (
                f'{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{",".join(entries)}]}}'
            )
            return text, OCI_INDEX, None
        bits = meta.bits
        # Platform images of an OCI index are OCI; plain images are Docker v2 or OCI.
        if meta.kind == "child" or (bits >> FORMAT) & 1:
            manifest, config, layer = OCI_MANIFEST, OCI_CONFIG, OCI_LAYER
        else:
            manifest, config, layer = DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER
        own = hashlib.blake2b(repo.key + b"M" + i.to_bytes(5, "big")).hexdigest()
        sizes = bits >> SIZES
        layers = [*repo.base_layers[: 1 + (bits >> LAYERS) % 3], own[64:]]
        blobs = ",".join(
            f'{{"mediaType":"{layer}","digest":"sha256:{d}","size":{size}}}'
            for d, size in zip(layers, _sizes(sizes), strict=False)
        )
        text = (
            f'{{"schemaVersion":2,"mediaType":"{manifest}","config":{{"mediaType":"{config}",'
            f'"digest":"sha256:{own[:64]}","size":{1000 + sizes % 9000}}},"layers":[{blobs}]}}'
        )
        return text, manifest, config

    def served(self, repo: Repository, meta: ImageMeta) -> Served:
        """The manifest with what DescribeImages says of it (its subject, for a referrer)."""
        if meta.artifact is None:
            return Served(*self.manifest(repo, meta))
        i = meta.index
        own = hashlib.blake2b(repo.key + b"M" + i.to_bytes(5, "big")).hexdigest()
        subject = None
        if meta.artifact in ATTACHED:
            text, media, _ = self.manifest(repo, self.meta(repo, i - 1))
            subject = (f"sha256:{hashlib.sha256(text.encode()).hexdigest()}", media, len(text))
        size = 1000 + (meta.bits >> SIZES) % 9_000_000
        return artifact_manifest(meta.artifact, own, size, subject)

    def digest(self, repo: Repository, meta: ImageMeta) -> str:
        text, _, _ = self.manifest(repo, meta)
        return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"

    def pushed_at(self, repo: Repository, meta: ImageMeta) -> float:
        span = (EPOCH_NOW - repo.created_at) / (repo.image_count + 1)
        return round(repo.created_at + span * (meta.index + _unit(meta.bits, PUSHED)), 3)

    def pulled_at(self, repo: Repository, meta: ImageMeta) -> float | None:
        """lastRecordedPullTime: 80% of images were pulled since their push."""
        if _unit(meta.bits, PULLED) >= 0.8:
            return None
        pushed = self.pushed_at(repo, meta)
        return round(pushed + _unit(meta.bits, PULL_TIME) * (EPOCH_NOW - pushed), 3)

    def scan_draw(self, repo: Repository, meta: ImageMeta) -> ScanDraw | None:
        """The image's scan as its hash draws it (None: never scanned); what each scanning mode
        reports of it is bench/simulator/findings.py's."""
        status = SCAN_STATUSES[bisect.bisect_right(self._scan_cdf, _unit(meta.bits, SCAN))]
        if status == "NONE":
            return None
        pushed = self.pushed_at(repo, meta)
        counts = draw_counts_of(meta.bits >> SEVERITY) if status == "COMPLETE" else {}
        return ScanDraw(status, counts, pushed + 60.0, pushed)

    def image(self, repo: Repository, meta: ImageMeta, mode: ScanMode = "CLAIR") -> ImageDetail:
        """Image `meta.index` as DescribeImages reports it in scanning mode `mode`."""
        subject = None
        if meta.artifact is None:
            text, media, artifact = self.manifest(repo, meta)
        else:
            text, media, artifact, subject = self.served(repo, meta)
        bits = meta.bits
        pushed = self.pushed_at(repo, meta)
        result = in_describe_images(
            mode,
            index=meta.no_scan,
            archived=meta.archived,
            draw=self.scan_draw(repo, meta),
        )
        scan_status = summary = None
        if result is not None:
            scan_status = ImageScanStatus(result.status, result.description)
            if result.counts is not None:
                summary = ImageScanFindingsSummary(
                    result.completed_at or pushed, result.updated_at or pushed, result.counts
                )
        return ImageDetail(
            registryId=repo.account,
            repositoryName=repo.name,
            imageDigest=f"sha256:{hashlib.sha256(text.encode()).hexdigest()}",
            imageSizeInBytes=5_000_000 + (bits >> SIZES) % 495_000_000,
            imagePushedAt=pushed,
            imageManifestMediaType=media,
            imageStatus="ARCHIVED" if meta.archived else "ACTIVE",
            imageTags=list(meta.tags) if meta.tags else None,
            artifactMediaType=artifact,
            subjectManifestDigest=subject,
            lastRecordedPullTime=self.pulled_at(repo, meta),
            imageScanStatus=scan_status,
            imageScanFindingsSummary=summary,
            lastArchivedAt=round(pushed + 86_400.0, 3) if meta.archived else None,
        )

    # -- lookups ------------------------------------------------------------------------------

    def find_tag(self, repo: Repository, tag: str) -> int | None:
        if tag == LATEST:
            latest = self.latest(repo)
            return latest if latest >= 0 else None
        if self._kinds and (match := COSIGN_TAG.fullmatch(tag)):
            subject = self.find_digest(repo, f"sha256:{match[1]}")
            if subject is None or subject + 1 >= repo.image_count:
                return None
            return subject + 1 if tag in self.meta(repo, subject + 1).tags else None
        for pattern, parse in TAG_PARSERS:
            match = pattern.fullmatch(tag)
            if match is not None:
                i = parse(match)
                if 0 <= i < repo.image_count and tag in self.meta(repo, i).tags:
                    return i
        return None

    def find_digest(self, repo: Repository, digest: str) -> int | None:
        """Digests cannot be inverted: a repository's digest map is built on first use and
        kept for the most recently used repositories."""
        table = self._digests.get(repo.key)
        if table is None:
            table = {self.digest(repo, self.meta(repo, i)): i for i in range(repo.image_count)}
            self._digests[repo.key] = table
            self._digest_entries += len(table)
            while self._digest_entries > DIGEST_CACHE_ENTRIES and len(self._digests) > 1:
                _, dropped = self._digests.popitem(last=False)
                self._digest_entries -= len(dropped)
        else:
            self._digests.move_to_end(repo.key)
        return table.get(digest)

    # -- the whole ----------------------------------------------------------------------------

    def inventory(self, accounts: list[str] | None = None) -> Iterator[InventoryEntry]:
        """Every repository, then each of its images, in listing order."""
        for (account, _), repos in self._repos.items():
            if accounts is not None and account not in accounts:
                continue
            for repo in repos:
                yield repo, None
                for i in range(repo.image_count):
                    meta = self.meta(repo, i)
                    yield repo, (self.digest(repo, meta), meta.tags, meta.archived)


# A repository alone, or one of its images as (digest, tags, archived).
InventoryEntry = tuple[Repository, tuple[str, tuple[str, ...], bool] | None]


def _sizes(bits: int) -> Iterator[int]:
    """Layer sizes from 1 kB to 99 MB."""
    for k in range(4):
        yield 1000 + (bits >> 7 * k) % 99_000_000
