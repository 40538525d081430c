"""The fan-out of a scan: accounts -> regions -> repository pages -> image pages, in anyio task
groups with a limit per level, streaming records through one bounded stream to the task that
owns the sink."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import msgspec
import structlog
from aiobotocore.session import AioSession
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from crawler.aws.accounts import Target, discover_accounts
from crawler.aws.client import CallStats, RegionClient, open_region_client
from crawler.aws.session import (
    Identity,
    assume_role,
    get_identity,
    open_session,
    resolve_regions,
    sts_region,
)
from crawler.cache import ManifestCache, default_cache_dir
from crawler.config import Config
from crawler.ecr.findings import is_scanned, list_findings
from crawler.ecr.images import list_images
from crawler.ecr.manifests import (
    INDEX_TYPES,
    Manifests,
    ManifestSource,
    children_of,
    list_referrers,
    parse_manifest,
)
from crawler.ecr.registry import describe_registry, pull_time_exclusions, role_arn, with_settings
from crawler.ecr.repositories import list_repositories
from crawler.errors import (
    AccessDeniedError,
    AwsError,
    CrawlerError,
    CredentialsError,
    RegionDisabledError,
)
from crawler.plan import in_shard
from crawler.records import (
    Error,
    Image,
    RegionCounts,
    Repository,
    ScanRecord,
    ScanStatus,
    ScanSummary,
)
from crawler.sinks import Sink

log = structlog.get_logger(__name__)

# Pages of records in flight between the crawl and the sink; a full buffer slows the crawl.
STREAM_PAGES = 32
SINK_BATCH = 2000
# Records per stream item when a repository's images are sent at once.
PAGE = 1000
# The region of an error that concerns a whole account (its role could not be assumed).
ALL_REGIONS = "*"


@dataclass
class Counts:
    repositories: int = 0
    images: int = 0
    errors: int = 0
    optional_errors: int = 0


@dataclass
class ScanStats:
    """Live counters of one scan, read by the progress display and the summary."""

    calls: CallStats = field(default_factory=CallStats)
    # By (account, region); region "*" holds an account's own failure.
    units: dict[tuple[str, str], Counts] = field(default_factory=dict)
    regions_done: int = 0
    regions_total: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.units.values())


async def scan(
    config: Config,
    sink: Sink,
    *,
    session: AioSession | None = None,
    stop: anyio.Event | None = None,
    stats: ScanStats | None = None,
) -> ScanSummary:
    """Scan the accounts and write every record to `sink`, the summary last.

    Setting `stop` ends the scan early with what was collected (status "interrupted"). The sink
    is the caller's to close. Raises ConfigError or CredentialsError before writing anything
    when the regions or credentials are wrong, and CredentialsError after the summary when the
    credentials expire mid-scan.
    """
    started_at = datetime.now(UTC)
    base = session or AioSession()
    regions, from_all = await resolve_regions(config, base)
    home = sts_region(config, base)
    session = await open_session(config, home, base)
    identity = await get_identity(session, config, home)
    targets = await discover_accounts(config, session, home, identity.account_id)
    cache = None
    if config.collect.manifests != "off":
        cache = ManifestCache(config.cache_dir or default_cache_dir())
    crawl = _Crawl(config, session, identity, home, from_all, stats or ScanStats(), cache)
    try:
        with structlog.contextvars.bound_contextvars(scan_id=crawl.scan_id):
            log.info(
                "scan started",
                accounts=len(targets),
                regions=len(regions),
                shard=config.shard,
                principal=identity.arn,
            )
            return await crawl.run(targets, regions, sink, stop, started_at)
    finally:
        if cache is not None:
            cache.close()


async def _write_all(receive: MemoryObjectReceiveStream[Sequence[ScanRecord]], sink: Sink) -> None:
    """The one task that owns the sink: batches whatever is waiting, writes, repeats."""
    async with receive:
        async for page in receive:
            batch = list(page)
            while len(batch) < SINK_BATCH:
                try:
                    batch.extend(receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            await sink.write(batch)


class _Crawl:
    def __init__(
        self,
        config: Config,
        session: AioSession,
        identity: Identity,
        home: str,
        from_all: bool,
        stats: ScanStats,
        cache: ManifestCache | None,
    ) -> None:
        self.config = config
        self.session = session
        self.identity = identity
        self.home = home
        self.cache = cache
        self.scan_id = str(uuid.uuid4())
        self.from_all = from_all
        self.stats = stats
        # The principal each account is scanned as, for the pull-time exclusion check.
        self.principals: dict[str, str] = {}
        self.api_calls = anyio.CapacityLimiter(config.concurrency.api_calls_total)
        self.send: MemoryObjectSendStream[Sequence[ScanRecord]]

    async def run(
        self,
        targets: list[Target],
        regions: list[str],
        sink: Sink,
        stop: anyio.Event | None,
        started_at: datetime,
    ) -> ScanSummary:
        units = {
            t.account_id: [r for r in regions if in_shard(t.account_id, r, self.config.shard)]
            for t in targets
        }
        self.stats.regions_total = sum(len(r) for r in units.values())
        self.send, receive = anyio.create_memory_object_stream[Sequence[ScanRecord]](STREAM_PAGES)
        interrupted = False
        fatal: CredentialsError | None = None

        async def watch(scope: anyio.CancelScope) -> None:
            nonlocal interrupted
            assert stop is not None
            await stop.wait()
            interrupted = True
            log.warning("interrupted: writing what was collected")
            scope.cancel()

        async with anyio.create_task_group() as outer:
            outer.start_soon(_write_all, receive, sink)
            async with self.send:
                try:
                    async with anyio.create_task_group() as tg:
                        if stop is not None:
                            tg.start_soon(watch, tg.cancel_scope)
                        await self._accounts(targets, units)
                        tg.cancel_scope.cancel()
                except* CredentialsError as group:
                    leaf: BaseException = group
                    while isinstance(leaf, BaseExceptionGroup):  # nested task groups
                        leaf = leaf.exceptions[0]
                    fatal = leaf if isinstance(leaf, CredentialsError) else CredentialsError(leaf)
                # Credentials that stop working stop everything: what is unfinished is not
                # "partial" (which means "the rest is complete") but interrupted.
                status: ScanStatus = "partial" if self.stats.total("errors") else "complete"
                if interrupted or fatal:
                    status = "interrupted"
                summary = self._summary(status, started_at)
                await self.send.send([summary])
        if fatal is not None:
            raise fatal
        return summary

    def _summary(self, status: ScanStatus, started_at: datetime) -> ScanSummary:
        stats = self.stats
        accounts: dict[str, dict[str, RegionCounts]] = {}
        totals: dict[str, Counts] = {}
        for (account, region), c in sorted(stats.units.items()):
            accounts.setdefault(account, {})[region] = _frozen(c)
            total = totals.setdefault(region, Counts())
            for name in ("repositories", "images", "errors", "optional_errors"):
                setattr(total, name, getattr(total, name) + getattr(c, name))
        return ScanSummary(
            scan_id=self.scan_id,
            account_id=self.identity.account_id,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            status=status,
            regions={region: _frozen(c) for region, c in totals.items()},
            regions_skipped=sorted({region for _, region in stats.skipped}),
            accounts=accounts,
            shard=self.config.shard,
            api_calls=stats.calls.api_calls,
            retries=stats.calls.retries,
            throttled=stats.calls.throttled,
        )

    async def _accounts(self, targets: list[Target], units: dict[str, list[str]]) -> None:
        slots = anyio.Semaphore(self.config.concurrency.accounts)
        async with anyio.create_task_group() as tg:
            for target in targets:
                if units[target.account_id]:
                    await slots.acquire()
                    tg.start_soon(self._account, target, units[target.account_id], slots)

    async def _account(self, target: Target, regions: list[str], slot: anyio.Semaphore) -> None:
        structlog.contextvars.bind_contextvars(account=target.account_id)
        try:
            session = self.session
            principal = self.identity.arn
            if target.role_arn is not None:
                # Role missing, denied, or an SCP: this account fails, the others go on.
                try:
                    session = await assume_role(
                        self.session,
                        self.config,
                        self.home,
                        target.role_arn,
                        target.external_id,
                        target.session_name,
                    )
                    identity = await get_identity(
                        session, self.config, self.home, role_arn=target.role_arn
                    )
                except CrawlerError as exc:
                    failure = AwsError("AssumeRole", "AccountUnavailable", str(exc))
                    await self._failed(failure, target.account_id, ALL_REGIONS)
                    return
                principal = identity.arn
            self.principals[target.account_id] = principal
            region_slots = anyio.Semaphore(self.config.concurrency.regions)
            async with anyio.create_task_group() as tg:
                for region in regions:
                    self.stats.units[target.account_id, region] = Counts()
                    await region_slots.acquire()
                    tg.start_soon(self._region, session, target.account_id, region, region_slots)
        finally:
            slot.release()

    async def _region(
        self, session: AioSession, account_id: str, region: str, slot: anyio.Semaphore
    ) -> None:
        structlog.contextvars.bind_contextvars(region=region)
        counts = self.stats.units[account_id, region]
        # Acquired before a repository task starts, so listing waits for free slots and the
        # number of pending tasks stays bounded however many repositories there are.
        repo_slots = anyio.Semaphore(self.config.concurrency.repositories)
        try:
            async with (
                open_region_client(
                    session, self.config, account_id, region, self.stats.calls, self.api_calls
                ) as client,
                anyio.create_task_group() as tg,
            ):
                try:
                    async for repository in list_repositories(client, self.scan_id):
                        counts.repositories += 1
                        await repo_slots.acquire()
                        tg.start_soon(self._repository, client, repository, repo_slots)
                    await self._registry(client)
                except AwsError as exc:
                    if isinstance(exc, RegionDisabledError) and self.from_all:
                        log.warning("region not enabled for this account; skipped")
                        self.stats.skipped.append((account_id, region))
                        del self.stats.units[account_id, region]
                    else:
                        await self._failed(exc, account_id, region)
        finally:
            slot.release()
            self.stats.regions_done += 1
        log.info("region done", repositories=counts.repositories, images=counts.images)

    async def _repository(
        self, client: RegionClient, repository: Repository, slot: anyio.Semaphore
    ) -> None:
        structlog.contextvars.bind_contextvars(repository=repository.repository_name)
        collect = self.config.collect
        failures: list[AwsError] = []
        try:
            if collect.policies or collect.tags:
                repository = await with_settings(client, repository, collect, failures)
            await self.send.send([repository])
            if collect.manifests == "off":
                async for page in list_images(client, repository):
                    recent = self._recent(page)
                    await self._images(recent)
                    await self._findings(client, recent, failures)
            else:
                # The whole repository first: DescribeImages reports lastRecordedPullTime as it
                # was before BatchGetImage, and index manifests tell the children's parents.
                images = [
                    image
                    async for page in list_images(client, repository)
                    for image in self._recent(page)
                ]
                await self._with_manifests(client, repository, images, failures)
                await self._findings(client, images, failures)
        except AwsError as exc:
            await self._failed(exc, client.account_id, client.region, repository.repository_name)
        finally:
            slot.release()
        for failure in failures:
            await self._failed(
                failure, client.account_id, client.region, repository.repository_name, True
            )

    def _recent(self, images: list[Image]) -> list[Image]:
        """With `since`: only the images pushed since then."""
        since = self.config.since
        if since is None:
            return images
        return [i for i in images if i.image_pushed_at is None or i.image_pushed_at >= since]

    async def _images(self, images: list[Image]) -> None:
        if images:
            self.stats.units[images[0].account_id, images[0].region].images += len(images)
            for start in range(0, len(images), PAGE):
                await self.send.send(images[start : start + PAGE])

    async def _with_manifests(
        self,
        client: RegionClient,
        repository: Repository,
        images: list[Image],
        failures: list[AwsError],
    ) -> None:
        assert self.cache is not None
        source = ManifestSource(client, self.cache, refetch=self.config.collect.manifests == "all")
        ids = (repository.registry_id, repository.repository_name)
        indexes = [i.image_digest for i in images if i.image_manifest_media_type in INDEX_TYPES]
        parents: dict[str, list[str]] = {}
        async for batch in source.get(*ids, indexes):
            for digest, (media_type, text) in batch.items():
                for child in children_of(media_type, text):
                    parents.setdefault(child, []).append(digest)
            await self._manifest_records(client, repository, batch, failures)
        await self._images(
            [
                msgspec.structs.replace(i, index_digests=sorted(parents.get(i.image_digest, ())))
                for i in images
            ]
        )
        others = [i.image_digest for i in images if i.image_manifest_media_type not in INDEX_TYPES]
        async for batch in source.get(*ids, others):
            await self._manifest_records(client, repository, batch, failures)
        failures += source.failures

    async def _manifest_records(
        self,
        client: RegionClient,
        repository: Repository,
        manifests: Manifests,
        failures: list[AwsError],
    ) -> None:
        records = []
        for digest, (media_type, text) in manifests.items():
            referrers = None
            if self.config.collect.referrers and not _denied(failures, "ListImageReferrers"):
                try:
                    referrers = await list_referrers(
                        client, repository.registry_id, repository.repository_name, digest
                    )
                except AwsError as exc:
                    failures.append(exc)
            scope = {
                "scan_id": self.scan_id,
                "account_id": client.account_id,
                "region": client.region,
                "registry_id": repository.registry_id,
                "repository_name": repository.repository_name,
                "image_digest": digest,
            }
            records.append(parse_manifest(text, media_type, scope=scope, referrers=referrers))
        if records:
            await self.send.send(records)

    async def _findings(
        self, client: RegionClient, images: list[Image], failures: list[AwsError]
    ) -> None:
        if self.config.collect.scan_findings != "full":
            return
        for image in images:
            if not is_scanned(image) or _denied(failures, "DescribeImageScanFindings"):
                continue
            try:
                async for page in list_findings(client, image):
                    await self.send.send(page)
            except AwsError as exc:
                failures.append(exc)

    async def _registry(self, client: RegionClient) -> None:
        """The registry record, and whether BatchGetImage will update pull times."""
        collect = self.config.collect
        failures: list[AwsError] = []
        exclusions = None
        if collect.registry:
            principal = self.principals[client.account_id]
            registry = await describe_registry(client, self.scan_id, principal, failures)
            await self.send.send([registry])
            exclusions = registry.pull_time_update_exclusions
        elif collect.manifests != "off":
            # Only a warning hangs on this call, so its denial is no error record.
            exclusions = await pull_time_exclusions(client, [])
        for failure in failures:
            await self._failed(failure, client.account_id, client.region, optional=True)
        if collect.manifests == "off":
            return
        principal = role_arn(self.principals[client.account_id])
        if exclusions is None:
            log.warning(
                "cannot tell whether BatchGetImage updates pull times: "
                "ecr:ListPullTimeUpdateExclusions failed",
                principal=principal,
            )
        elif principal not in exclusions:
            log.warning(
                "BatchGetImage by the crawler updates each image's lastRecordedPullTime, which "
                "lifecycle rules read; exclude the crawler with: aws ecr "
                f"register-pull-time-update-exclusion --principal-arn {principal} "
                f"--region {client.region} (or set collect.manifests: off)",
            )

    async def _failed(
        self,
        exc: AwsError,
        account_id: str,
        region: str,
        repository: str | None = None,
        optional: bool = False,
    ) -> None:
        """Record what could not be collected; the rest of the scan goes on."""
        counts = self.stats.units.setdefault((account_id, region), Counts())
        message = exc.message
        if optional:
            counts.optional_errors += 1
            if isinstance(exc, AccessDeniedError):
                message += f" (add ecr:{exc.operation} to the crawler's IAM policy)"
        else:
            counts.errors += 1
        log.error("could not collect", operation=exc.operation, error=exc.code, message=message)
        await self.send.send(
            [
                Error(
                    scan_id=self.scan_id,
                    account_id=account_id,
                    region=region,
                    repository_name=repository,
                    operation=exc.operation,
                    error_code=exc.code,
                    message=message,
                    optional=optional,
                )
            ]
        )


def _frozen(counts: Counts) -> RegionCounts:
    return RegionCounts(
        repositories=counts.repositories,
        images=counts.images,
        errors=counts.errors,
        optional_errors=counts.optional_errors,
    )


def _denied(failures: list[AwsError], operation: str) -> bool:
    """Once an optional call is denied, asking again for every image only repeats the denial."""
    return any(isinstance(f, AccessDeniedError) and f.operation == operation for f in failures)
