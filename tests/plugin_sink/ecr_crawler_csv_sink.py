"""An ecr-crawler sink plugin: `csv:PATH` writes one line per image."""

import csv
from collections.abc import Sequence

import anyio.to_thread

from crawler.records import Image, ScanRecord

COLUMNS = ["account_id", "region", "repository_name", "image_digest", "image_tags"]


class CsvImageSink:
    def __init__(self, uri: str) -> None:  # the whole URI, "csv:images.csv"
        self._file = open(uri.removeprefix("csv:"), "w", newline="")  # noqa: SIM115 - open until aclose()
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        rows = [
            [r.account_id, r.region, r.repository_name, r.image_digest, " ".join(r.image_tags)]
            for r in batch
            if isinstance(r, Image)
        ]
        await anyio.to_thread.run_sync(self._csv.writerows, rows)

    async def aclose(self) -> None:
        self._file.close()
