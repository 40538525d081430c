"""The one task that owns the sink: records arrive through one bounded stream (a full buffer
slows the crawl instead of filling memory), are counted for the summary, and are written in
batches; and the manifest cache a scan holds open while it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from crawler.cache import ManifestCache, default_cache_dir
from crawler.config import Config
from crawler.records import ScanRecord
from crawler.sinks import Sink
from crawler.stats import ScanStats

# Pages of records in flight between the crawl and the sink.
STREAM_PAGES = 32
SINK_BATCH = 2000

Send = MemoryObjectSendStream[Sequence[ScanRecord]]


@asynccontextmanager
async def writer(sink: Sink, stats: ScanStats) -> AsyncIterator[Send]:
    """The stream to the one task that owns the sink; leaving waits until all is written."""
    send, receive = anyio.create_memory_object_stream[Sequence[ScanRecord]](STREAM_PAGES)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_write_all, receive, sink, stats)
        async with send:
            yield send


async def _write_all(
    receive: MemoryObjectReceiveStream[Sequence[ScanRecord]], sink: Sink, stats: ScanStats
) -> None:
    """Batches whatever is waiting, counts it, writes, repeats."""
    async with receive:
        async for page in receive:
            batch = list(page)
            while len(batch) < SINK_BATCH:
                try:
                    batch.extend(receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            stats.count(batch)
            await sink.write(batch)


@asynccontextmanager
async def manifest_cache(config: Config) -> AsyncIterator[ManifestCache | None]:
    if config.collect.manifests == "off":
        yield None
        return
    cache = ManifestCache(config.cache_dir or default_cache_dir())
    try:
        yield cache
    finally:
        cache.close()
