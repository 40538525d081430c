"""The fan-out of a scan: regions -> repository pages -> image pages, in anyio task groups with
a limit per level, streaming records through one bounded stream to the task that owns the sink."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import structlog
from aiobotocore.session import AioSession
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from crawler.aws.client import CallStats, RegionClient, open_region_client
from crawler.aws.session import get_identity, open_session, resolve_regions, sts_region
from crawler.config import Config
from crawler.ecr.images import list_images
from crawler.ecr.repositories import list_repositories
from crawler.errors import AwsError, CredentialsError, RegionDisabledError
from crawler.records import (
    Error,
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


@dataclass
class Counts:
    repositories: int = 0
    images: int = 0
    errors: int = 0


@dataclass
class ScanStats:
    """Live counters of one scan, read by the progress display and the summary."""

    calls: CallStats = field(default_factory=CallStats)
    regions: dict[str, Counts] = field(default_factory=dict)
    regions_done: int = 0
    regions_total: int = 0
    skipped: list[str] = field(default_factory=list)


async def scan(
    config: Config,
    sink: Sink,
    *,
    session: AioSession | None = None,
    stop: anyio.Event | None = None,
    stats: ScanStats | None = None,
) -> ScanSummary:
    """Scan the account and write every record to `sink`, the summary last.

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
    crawl = _Crawl(config, session, identity.account_id, from_all, stats or ScanStats())
    with structlog.contextvars.bound_contextvars(
        scan_id=crawl.scan_id, account=identity.account_id
    ):
        log.info("scan started", regions=len(regions), principal=identity.arn)
        return await crawl.run(regions, sink, stop, started_at)


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
        account_id: str,
        from_all: bool,
        stats: ScanStats,
    ) -> None:
        self.config = config
        self.session = session
        self.account_id = account_id
        self.scan_id = str(uuid.uuid4())
        self.from_all = from_all
        self.stats = stats
        self.send: MemoryObjectSendStream[Sequence[ScanRecord]]

    async def run(
        self, regions: list[str], sink: Sink, stop: anyio.Event | None, started_at: datetime
    ) -> ScanSummary:
        self.stats.regions_total = len(regions)
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
                        await self._regions(regions)
                        tg.cancel_scope.cancel()
                except* CredentialsError as group:
                    fatal = next(e for e in group.exceptions if isinstance(e, CredentialsError))
                errors = sum(c.errors for c in self.stats.regions.values())
                status: ScanStatus = "partial" if errors or fatal else "complete"
                summary = self._summary("interrupted" if interrupted else status, started_at)
                await self.send.send([summary])
        if fatal is not None:
            raise fatal
        return summary

    def _summary(self, status: ScanStatus, started_at: datetime) -> ScanSummary:
        stats = self.stats
        return ScanSummary(
            scan_id=self.scan_id,
            account_id=self.account_id,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            status=status,
            regions={
                r: RegionCounts(repositories=c.repositories, images=c.images, errors=c.errors)
                for r, c in stats.regions.items()
            },
            regions_skipped=sorted(stats.skipped),
            api_calls=stats.calls.api_calls,
            retries=stats.calls.retries,
            throttled=stats.calls.throttled,
        )

    async def _regions(self, regions: list[str]) -> None:
        slots = anyio.Semaphore(self.config.concurrency.regions)
        async with anyio.create_task_group() as tg:
            for region in regions:
                self.stats.regions[region] = Counts()
                await slots.acquire()
                tg.start_soon(self._region, region, slots)

    async def _region(self, region: str, slot: anyio.Semaphore) -> None:
        structlog.contextvars.bind_contextvars(region=region)
        counts = self.stats.regions[region]
        # Acquired before a repository task starts, so listing waits for free slots and the
        # number of pending tasks stays bounded however many repositories there are.
        repo_slots = anyio.Semaphore(self.config.concurrency.repositories)
        try:
            async with (
                open_region_client(
                    self.session, self.config, self.account_id, region, self.stats.calls
                ) as client,
                anyio.create_task_group() as tg,
            ):
                try:
                    async for repository in list_repositories(client, self.scan_id):
                        counts.repositories += 1
                        await self.send.send([repository])
                        await repo_slots.acquire()
                        tg.start_soon(self._repository, client, repository, repo_slots)
                except AwsError as exc:
                    if isinstance(exc, RegionDisabledError) and self.from_all:
                        log.warning("region not enabled for this account; skipped")
                        self.stats.skipped.append(region)
                        del self.stats.regions[region]
                    else:
                        await self._failed(exc, region)
        finally:
            slot.release()
            self.stats.regions_done += 1
        log.info("region done", repositories=counts.repositories, images=counts.images)

    async def _repository(
        self, client: RegionClient, repository: Repository, slot: anyio.Semaphore
    ) -> None:
        structlog.contextvars.bind_contextvars(repository=repository.repository_name)
        counts = self.stats.regions[client.region]
        try:
            async for page in list_images(client, repository):
                counts.images += len(page)
                await self.send.send(page)
        except AwsError as exc:
            await self._failed(exc, client.region, repository.repository_name)
        finally:
            slot.release()

    async def _failed(self, exc: AwsError, region: str, repository: str | None = None) -> None:
        """Record what could not be collected; the rest of the scan goes on."""
        self.stats.regions[region].errors += 1
        log.error("could not collect", operation=exc.operation, error=exc.code, message=exc.message)
        await self.send.send(
            [
                Error(
                    scan_id=self.scan_id,
                    account_id=self.account_id,
                    region=region,
                    repository_name=repository,
                    operation=exc.operation,
                    error_code=exc.code,
                    message=exc.message,
                )
            ]
        )
