"""What a scan collects, chosen once from `collect:`: the stages run for each repository and for
each registry (account-region). Each stage is an async generator of record pages; what an
optional call could not read is yielded as an `error` record (optional: true) with the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import msgspec
import structlog
from aiobotocore.session import AioSession

from crawler.artifacts import Verdict, settled
from crawler.aws.call import Caller, CallStats, open_client
from crawler.aws.client import RegionClient
from crawler.cache import ManifestCache
from crawler.config import Config
from crawler.ecr import Optional
from crawler.ecr.images import list_images
from crawler.ecr.inspector import list_findings
from crawler.ecr.manifests import (
    BATCH,
    Manifests,
    ManifestSource,
    list_referrers,
    parse_manifest,
    unavailable_manifest,
)
from crawler.ecr.registry import describe_registry, pull_time_exclusions, role_arn, with_settings
from crawler.ecr.repositories import list_repositories
from crawler.ecr.scanning import NAMES_PER_CALL, with_scanning_configuration
from crawler.ecr.signing import SignedBy
from crawler.ecr.templates import creation_templates
from crawler.errors import AccessDeniedError, AwsError
from crawler.held import HeldImages
from crawler.lookups import ImageLookups
from crawler.media_types import INDEX_TYPES
from crawler.records import Error, Image, ImageManifest, Repository, ScanRecord
from crawler.region import Inspector, Region, learn_region

log = structlog.get_logger(__name__)

Page = Sequence[ScanRecord]
INSPECTOR_OPERATIONS = frozenset({"ListCoverage", "ListFindingAggregations", "ListFindings"})


RepositoryStage = Callable[[Region, Repository], AsyncIterator[Page]]


class Collection:
    """The stages of one scan. `repository_stages` run in order for each repository."""

    def __init__(self, config: Config, scan_id: str, cache: ManifestCache | None) -> None:
        self.scan_id = scan_id
        self._collect = collect = config.collect
        self._since = config.since
        self._cache = cache
        self._scan_results = collect.scan_findings != "off"
        self._lookups = ImageLookups(collect)
        # principal -> regions where BatchGetImage updates its pull times (None: unknown), for
        # one warning per principal at the end of the scan.
        self._pull_times: dict[str, dict[str, bool | None]] = {}
        self.repository_stages: list[RepositoryStage] = [
            self.repository_with_settings if collect.policies or collect.tags else self.repository,
            self.images if collect.manifests == "off" else self.images_with_manifests,
        ]

    async def open_region(
        self, client: RegionClient, principal: str, inspector: Caller | None = None
    ) -> Region:
        return await learn_region(client, principal, self._collect, inspector)

    @asynccontextmanager
    async def inspector(
        self, session: AioSession, region: str, config: Config, stats: CallStats
    ) -> AsyncIterator[Caller | None]:
        """With collect.inspector, an inspector2 client for the account-region."""
        if not self._collect.inspector:
            yield None
            return
        async with open_client(session, "inspector2", region, config) as inspector:
            yield Caller(inspector, config, stats=stats, rate_limit=config.rate_limit)

    async def repositories(self, region: Region) -> AsyncIterator[Repository]:
        """Every repository, with its effective scanning when scan results are collected."""
        batch: list[Repository] = []
        async for repository in list_repositories(region.client, self.scan_id):
            if not self._scan_results:
                yield repository
                continue
            batch.append(repository)
            if len(batch) == NAMES_PER_CALL:
                for found in await with_scanning_configuration(region.optional, batch):
                    yield found
                batch = []
        for found in await with_scanning_configuration(region.optional, batch):
            yield found

    async def repository(self, region: Region, repository: Repository) -> AsyncIterator[Page]:
        yield [repository]

    async def repository_with_settings(
        self, region: Region, repository: Repository
    ) -> AsyncIterator[Page]:
        optional = Optional(region.client)
        yield [await with_settings(optional, repository, self._collect)]
        yield self.errors(optional, repository.repository_name)

    async def images(self, region: Region, repository: Repository) -> AsyncIterator[Page]:
        """Page by page: DescribeImages, then each page's scan results."""
        optional = Optional(region.client)
        async for page in list_images(region.client, repository):
            async for records in self._lookups.enrich(region, optional, self._recent(page)):
                yield records
        yield self.errors(optional, repository.repository_name)

    async def images_with_manifests(
        self, region: Region, repository: Repository
    ) -> AsyncIterator[Page]:
        """Every page first: DescribeImages reports lastRecordedPullTime as it was before
        BatchGetImage, and only the index manifests tell the children's parents. Then the
        indexes' manifests with the first page's; then, page by page, the page's manifests in
        full calls of 100 and its images, each with the kind its manifest says (an image whose
        manifest waits for the next call comes with the next page)."""
        assert self._cache is not None
        optional = Optional(region.client)
        source = ManifestSource(optional, self._cache, self._collect.manifests == "all")
        ids = (repository.registry_id, repository.repository_name)
        read = _Read()
        with HeldImages(self._cache.directory) as held:
            async for page in list_images(region.client, repository, linked=True):
                held.add(self._recent(page))
            async for batch in source.get(*ids, held.indexes + held.first_digests):
                yield await self._manifests(optional, repository, batch, read)
            waiting: list[Image] = []
            wanted: list[str] = []
            for number, page in enumerate(held):
                if number:
                    wanted += _not_indexes(page)
                    full = len(wanted) - len(wanted) % BATCH
                    async for batch in source.get(*ids, wanted[:full]):
                        yield await self._manifests(optional, repository, batch, read)
                    del wanted[:full]
                ready, waiting = read.ready(waiting + page, wanted)
                async for records in self._enrich(region, optional, ready, held.subjects):
                    yield records
            async for batch in source.get(*ids, wanted):
                yield await self._manifests(optional, repository, batch, read)
            ready, _ = read.ready(waiting, [])
            async for records in self._enrich(region, optional, ready, held.subjects):
                yield records
        yield self.errors(optional, repository.repository_name)

    async def _enrich(
        self, region: Region, optional: Optional, images: list[Image], subjects: SignedBy
    ) -> AsyncIterator[Page]:
        if images:
            async for records in self._lookups.enrich(region, optional, images, subjects=subjects):
                yield records

    async def registry(self, region: Region) -> AsyncIterator[Page]:
        """The registry record, and a warning when BatchGetImage will update pull times."""
        optional, principal = region.optional, region.principal
        exclusions = None
        if region.inspector is not None and self._collect.scan_findings == "full":
            async for findings in self._inspector_findings(region, region.inspector):
                yield findings
        if self._collect.registry:
            registry = await describe_registry(region, self.scan_id)
            yield [registry]
            templates = await creation_templates(optional, self.scan_id, registry.registry_id)
            yield templates or []
            exclusions = registry.pull_time_update_exclusions
        elif self._collect.manifests != "off":
            # Only a warning hangs on this call, so its denial is no error record.
            exclusions = await pull_time_exclusions(Optional(region.client))
        yield self.errors(optional)
        if self._collect.manifests != "off":
            excluded = None if exclusions is None else role_arn(principal) in exclusions
            self._pull_times.setdefault(role_arn(principal), {})[region.client.region] = excluded

    async def _inspector_findings(
        self, region: Region, inspector: Inspector
    ) -> AsyncIterator[Page]:
        client = region.client
        try:
            async for page in list_findings(
                inspector.caller,
                client.account_id,
                scan_id=self.scan_id,
                region=client.region,
                coverage=inspector.coverage,
            ):
                yield page
        except AwsError as exc:
            region.optional.failed(exc)

    def warn_pull_times(self) -> None:
        """Once per principal: BatchGetImage by the crawler updates each image's
        lastRecordedPullTime (aws/containers-roadmap#2390), which lifecycle rules read."""
        for principal, regions in sorted(self._pull_times.items()):
            unknown = sorted(r for r, excluded in regions.items() if excluded is None)
            updating = sorted(r for r, excluded in regions.items() if excluded is False)
            if unknown:
                log.warning(
                    "cannot tell whether BatchGetImage updates pull times: "
                    f"ecr:ListPullTimeUpdateExclusions failed in {', '.join(unknown)}",
                    principal=principal,
                )
            if updating:
                log.warning(
                    "BatchGetImage by the crawler updates each image's lastRecordedPullTime, "
                    "which lifecycle rules read; exclude the crawler with: "
                    + _register_exclusion(principal, updating)
                    + " (or set collect.manifests: off)"
                )

    async def _manifests(
        self, optional: Optional, repository: Repository, manifests: Manifests, read: _Read
    ) -> list[ImageManifest]:
        client = optional.client
        records = []
        for digest, (media_type, text, failure) in manifests.items():
            scope = {
                "scan_id": self.scan_id,
                "account_id": client.account_id,
                "region": client.region,
                "registry_id": repository.registry_id,
                "repository_name": repository.repository_name,
                "image_digest": digest,
            }
            if failure is not None:
                records.append(unavailable_manifest(failure, scope=scope))
                continue
            referrers = None
            if self._collect.referrers and not optional.denied("list_image_referrers"):
                try:
                    referrers = await list_referrers(
                        client, repository.registry_id, repository.repository_name, digest
                    )
                except AwsError as exc:
                    optional.failed(exc)
            manifest = parse_manifest(text, media_type, scope=scope, referrers=referrers)
            read.note(manifest)
            records.append(manifest)
        return records

    def _recent(self, images: list[Image]) -> list[Image]:
        """With `since`: only the images pushed since then."""
        since = self._since
        if since is None:
            return images
        return [i for i in images if i.image_pushed_at is None or i.image_pushed_at >= since]

    def errors(self, optional: Optional, repository: str | None = None) -> list[Error]:
        client = optional.client
        return [
            error_record(exc, self.scan_id, client.account_id, client.region, repository, True)
            for exc in optional.errors
        ]


class _Read:
    """What a repository's manifests tell its image records: the indexes that list each child,
    and the kind of each image whose record is still to come."""

    def __init__(self) -> None:
        # child digest -> the indexes that list it
        self.parents: dict[str, list[str]] = {}
        # digest -> the manifest's verdict, until its image record is out
        self.kinds: dict[str, Verdict] = {}

    def note(self, manifest: ImageManifest) -> None:
        for child in manifest.children or ():
            if child.digest:
                self.parents.setdefault(child.digest, []).append(manifest.image_digest)
        if manifest.artifact_kind is not None:
            self.kinds[manifest.image_digest] = (manifest.artifact_kind, manifest.artifact_kind_by)

    def ready(self, images: list[Image], wanted: list[str]) -> tuple[list[Image], list[Image]]:
        """The images whose manifests were read (or never will be), completed; and those whose
        manifests are still `wanted`."""
        pending = set(wanted)
        done = [self._completed(i) for i in images if i.image_digest not in pending]
        return done, [i for i in images if i.image_digest in pending] if pending else []

    def _completed(self, image: Image) -> Image:
        changes: dict[str, object] = {}
        parents = self.parents.get(image.image_digest)
        if parents:
            changes["index_digests"] = sorted(parents)
        read = self.kinds.pop(image.image_digest, None)
        if read is not None and image.artifact_kind is not None:
            kind, by = settled((image.artifact_kind, image.artifact_kind_by), read)
            if (kind, by) != (image.artifact_kind, image.artifact_kind_by):
                changes.update(artifact_kind=kind, artifact_kind_by=by)
        return msgspec.structs.replace(image, **changes) if changes else image


def _not_indexes(images: list[Image]) -> list[str]:
    return [i.image_digest for i in images if i.image_manifest_media_type not in INDEX_TYPES]


def error_record(
    exc: AwsError,
    scan_id: str,
    account_id: str,
    region: str,
    repository: str | None = None,
    optional: bool = False,
) -> Error:
    """What could not be collected, as a record (logged once, here)."""
    message = exc.message
    if optional and isinstance(exc, AccessDeniedError):
        service = "inspector2" if exc.operation in INSPECTOR_OPERATIONS else "ecr"
        message += f" (add {service}:{exc.operation} to the crawler's IAM policy)"
    log.error("could not collect", operation=exc.operation, error=exc.code, message=message)
    return Error(
        scan_id=scan_id,
        account_id=account_id,
        region=region,
        repository_name=repository,
        operation=exc.operation,
        error_code=exc.code,
        message=message,
        optional=optional,
    )


def _register_exclusion(principal: str, regions: list[str]) -> str:
    command = f"aws ecr register-pull-time-update-exclusion --principal-arn {principal}"
    if len(regions) == 1:
        return f"{command} --region {regions[0]}"
    return f"for r in {' '.join(regions)}; do {command} --region $r; done"
