"""JSON lines, one record per line, to stdout or to a file written under a temporary name and
renamed into place when the scan ends (".gz" compresses)."""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
import msgspec

from crawler.errors import ConfigError, SinkError
from crawler.records import ScanRecord, ScanSummary


def interrupted_path(path: Path) -> Path:
    """inventory.jsonl.gz -> inventory.interrupted.jsonl.gz"""
    stem, dot, suffixes = path.name.partition(".")
    return path.with_name(f"{stem}.interrupted{dot}{suffixes}")


class JsonlSink:
    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self._encoder = msgspec.json.Encoder()
        self._finished = False
        self.path = None if path is None else Path(path)
        if self.path is None:
            self._tmp = None
            self._file: BinaryIO | gzip.GzipFile = sys.stdout.buffer
            return
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            raw = self._tmp.open("wb")
        except OSError as exc:
            raise ConfigError(f"sink '{self.path}': cannot create file: {exc.strerror}") from None
        self._file = gzip.GzipFile(fileobj=raw, mode="wb") if self.path.suffix == ".gz" else raw
        self._raw = raw

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        data = self._encoder.encode_lines(batch)
        last = batch[-1]
        self._finished = isinstance(last, ScanSummary) and last.status != "interrupted"
        try:
            await anyio.to_thread.run_sync(self._write, data)
        except OSError as exc:
            raise SinkError(f"cannot write to {self.path or 'stdout'}: {exc.strerror}") from None

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        # Flushed per batch so that a reader of the stream (jq) or a crash sees whole lines.
        self._file.flush()

    async def aclose(self) -> None:
        if self._tmp is None or self.path is None:
            return
        self._file.close()
        self._raw.close()
        self._tmp.replace(self.path if self._finished else interrupted_path(self.path))
