"""The fan-out of a scan: accounts -> regions -> repositories, in anyio task groups with a limit
per level, each repository through the collection's stages, every record through one bounded
stream to the one task that owns the sink."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import anyio
import structlog
from aiobotocore.session import AioSession

from crawler.aws.accounts import Target
from crawler.aws.client import Shared, open_region_client
from crawler.aws.rates import RateBook, load_book, save_book
from crawler.aws.scope import Scope, open_scope
from crawler.aws.session import RoleAssumer, assuming_roles
from crawler.cache import default_cache_dir
from crawler.collect import Collection, error_record
from crawler.config import Config
from crawler.ecr import images, manifests
from crawler.errors import AwsError, CrawlerError, CredentialsError, RegionDisabledError
from crawler.plan import in_shard
from crawler.records import Repository, ScanRecord, ScanSummary
from crawler.region import Region
from crawler.sinks import Sink
from crawler.stats import ALL_REGIONS, ScanStats
from crawler.writer import SINK_BATCH, Send, manifest_cache, writer

__all__ = ["SINK_BATCH", "ScanStats", "scan"]

log = structlog.get_logger(__name__)
# The answers decoded by msgspec rather than botocore's parser: the pages a scan reads most.
DECODERS = images.DECODERS | manifests.DECODERS


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
    scope = await open_scope(config, session)
    stats = stats or ScanStats()
    cache_dir = Path(config.cache_dir or default_cache_dir())
    rates = load_book(config.rate_limit, cache_dir)
    crawl = _Crawl(config, scope, stats, rates)
    fatal: CredentialsError | None = None
    with structlog.contextvars.bound_contextvars(scan_id=crawl.scan_id):
        log.info(
            "scan started",
            accounts=len(scope.targets),
            regions=len(scope.regions),
            shard=config.shard,
            principal=scope.identity.arn,
        )
        async with writer(sink, stats) as send, manifest_cache(config) as cache:
            collection = Collection(config, crawl.scan_id, cache)
            try:
                await crawl.run(send, collection, stop)
            except* CredentialsError as group:
                fatal = _first(group)
            collection.warn_pull_times()
        save_book(rates, config.rate_limit, cache_dir)
        # Every record has reached the sink (and been counted): the summary comes last.
        summary = stats.summary(
            scan_id=crawl.scan_id,
            account_id=scope.identity.account_id,
            started_at=started_at,
            interrupted=crawl.interrupted or fatal is not None,
            shard=config.shard,
        )
        await sink.write([summary])
    if fatal is not None:
        raise fatal
    return summary


def _first(group: BaseExceptionGroup[CredentialsError]) -> CredentialsError:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):  # nested task groups
        leaf = leaf.exceptions[0]
    return leaf if isinstance(leaf, CredentialsError) else CredentialsError(leaf)


class _Crawl:
    """One scan's fan-out: each level holds a slot of its own limit while its children run."""

    def __init__(self, config: Config, scope: Scope, stats: ScanStats, rates: RateBook) -> None:
        self.config = config
        self.scope = scope
        self.stats = stats
        self.scan_id = str(uuid.uuid4())
        self.interrupted = False
        # Opened by `run` when an account is scanned through a role.
        self.roles: RoleAssumer | None = None
        # The calls' counters, their cap over the scan, what account-regions learn of quotas.
        total = anyio.CapacityLimiter(config.concurrency.api_calls_total)
        self.shared = Shared(stats.calls, total, rates)

    async def run(self, send: Send, collection: Collection, stop: anyio.Event | None) -> None:
        self.send, self.collection = send, collection
        shard = self.config.shard
        units = {
            t.account_id: [r for r in self.scope.regions if in_shard(t.account_id, r, shard)]
            for t in self.scope.targets
        }
        self.stats.regions_total = sum(len(r) for r in units.values())
        async with AsyncExitStack() as held, anyio.create_task_group() as tg:
            if any(t.role_arn for t in self.scope.targets):
                self.roles = await held.enter_async_context(
                    assuming_roles(self.scope.session, self.config, self.scope.home)
                )
            if stop is not None:
                tg.start_soon(self._watch, stop, tg.cancel_scope)
            # A free slot is taken without yielding: behind a running scan, each yield waits
            # a whole turn of the event loop, and 60 accounts started a turn apart took 11 s.
            slots = anyio.Semaphore(self.config.concurrency.accounts, fast_acquire=True)
            async with anyio.create_task_group() as accounts:
                for target in self.scope.targets:
                    if units[target.account_id]:
                        await slots.acquire()
                        accounts.start_soon(self._account, target, units[target.account_id], slots)
            tg.cancel_scope.cancel()

    async def _watch(self, stop: anyio.Event, scope: anyio.CancelScope) -> None:
        await stop.wait()
        self.interrupted = True
        log.warning("interrupted: writing what was collected")
        scope.cancel()

    async def _account(self, target: Target, regions: list[str], slot: anyio.Semaphore) -> None:
        structlog.contextvars.bind_contextvars(account=target.account_id)
        try:
            session, principal = self.scope.session, self.scope.identity.arn
            if target.role_arn is not None:
                try:
                    session, principal = await self._assume(target)
                except CrawlerError as exc:
                    # Role missing, denied, or an SCP: this account fails, the others go on.
                    failure = AwsError("AssumeRole", "AccountUnavailable", str(exc))
                    await self._failed(failure, target.account_id, ALL_REGIONS)
                    return
            region_slots = anyio.Semaphore(self.config.concurrency.regions, fast_acquire=True)
            async with anyio.create_task_group() as tg:
                for region in regions:
                    self.stats.open(target.account_id, region)
                    await region_slots.acquire()
                    tg.start_soon(
                        self._region, session, principal, target.account_id, region, region_slots
                    )
        finally:
            slot.release()

    async def _assume(self, target: Target) -> tuple[AioSession, str]:
        """The account's session and principal: its role, assumed through the scan's STS
        client. The session holds nothing open: the account's clients close with its
        regions."""
        assert target.role_arn is not None
        assert self.roles is not None
        return await self.roles.assume(
            self.config, target.role_arn, target.external_id, target.session_name
        )

    async def _region(
        self,
        session: AioSession,
        principal: str,
        account_id: str,
        region: str,
        slot: anyio.Semaphore,
    ) -> None:
        structlog.contextvars.bind_contextvars(region=region)
        # Acquired before a repository task starts, so listing waits for free slots and the
        # number of pending tasks stays bounded however many repositories there are.
        repo_slots = anyio.Semaphore(self.config.concurrency.repositories)
        calls = (self.shared, DECODERS)
        try:
            inspector = self.collection.inspector(session, region, self.config, self.stats.calls)
            async with (
                open_region_client(session, self.config, account_id, region, *calls) as client,
                inspector as bulk,
                anyio.create_task_group() as tg,
            ):
                try:
                    unit = await self.collection.open_region(client, principal, bulk)
                    async for repository in self.collection.repositories(unit):
                        await repo_slots.acquire()
                        tg.start_soon(self._repository, unit, repository, repo_slots)
                    async for page in self.collection.registry(unit):
                        await self._send(page)
                except AwsError as exc:
                    if isinstance(exc, RegionDisabledError) and self.scope.from_all:
                        log.warning("region not enabled for this account; skipped")
                        self.stats.skip(account_id, region)
                    else:
                        await self._failed(exc, account_id, region)
        finally:
            slot.release()
            self.stats.regions_done += 1
        log.info("region done")

    async def _repository(
        self, region: Region, repository: Repository, slot: anyio.Semaphore
    ) -> None:
        structlog.contextvars.bind_contextvars(repository=repository.repository_name)
        try:
            for stage in self.collection.repository_stages:
                async for page in stage(region, repository):
                    await self._send(page)
        except AwsError as exc:
            client = region.client
            await self._failed(exc, client.account_id, client.region, repository.repository_name)
        finally:
            slot.release()

    async def _send(self, page: Sequence[ScanRecord]) -> None:
        if page:
            await self.send.send(page)

    async def _failed(
        self, exc: AwsError, account_id: str, region: str, repository: str | None = None
    ) -> None:
        """What could not be collected is a record; the rest of the scan goes on."""
        await self._send([error_record(exc, self.scan_id, account_id, region, repository)])
