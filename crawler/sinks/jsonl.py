"""JSON lines, one record per line, to stdout or to a file written under a temporary name and
renamed into place when the scan ends (".gz" compresses). Files are created owner-only, in a
directory that exists (`crawler.sinks.files`). A write that fails half-way (disk full) is cut
back to the last whole line; a scan that ends before its first record leaves no file."""

from __future__ import annotations

import contextlib
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
from crawler.sinks.files import create_private, need_directory


def interrupted_path(path: Path) -> Path:
    """inventory.jsonl.gz -> inventory.interrupted.jsonl.gz"""
    stem, dot, suffixes = path.name.partition(".")
    return path.with_name(f"{stem}.interrupted{dot}{suffixes}")


class JsonlSink:
    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self._encoder = msgspec.json.Encoder()
        self._finished = False
        self._failed = False
        self._written = False  # the scan got as far as records (even if the disk then failed)
        self._good = 0  # bytes of the file that hold whole lines
        self.path = None if path is None else Path(path)
        # Once closed: the file that holds the records (`path`, or its interrupted name).
        self.kept: Path | None = None
        if self.path is None:
            self._tmp = None
            self._file: BinaryIO | gzip.GzipFile = sys.stdout.buffer
            return
        need_directory(self.path, f"jsonl:{self.path}", "file")
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            raw = os.fdopen(create_private(self._tmp), "wb")
        except OSError as exc:
            raise ConfigError(f"sink '{self.path}': cannot create file: {exc.strerror}") from None
        self._file = gzip.GzipFile(fileobj=raw, mode="wb") if self.path.suffix == ".gz" else raw
        self._raw = raw

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        data = self._encoder.encode_lines(batch)
        last = batch[-1]
        self._written = True
        try:
            await anyio.to_thread.run_sync(self._write, data)
        except BrokenPipeError:
            raise  # whoever read stdout is gone: the CLI ends quietly, as `| head` users expect
        except OSError as exc:
            self._failed = True
            raise SinkError(f"cannot write to {self.path or 'stdout'}: {exc.strerror}") from None
        self._finished = isinstance(last, ScanSummary) and last.status != "interrupted"

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        # Flushed per batch so that a reader of the stream (jq) or a crash sees whole lines.
        self._file.flush()
        if self._tmp is not None:
            self._good = self._raw.tell()

    async def aclose(self) -> None:
        if self._tmp is None or self.path is None:
            return
        tmp, self._tmp = self._tmp, None  # a second aclose (after an interrupt) has nothing to do
        error = None
        try:
            try:
                self._file.close()
            finally:
                self._raw.close()
        except OSError as exc:
            error = exc
        if not self._written:
            # The scan failed before its first record (no credentials): nothing worth a file.
            tmp.unlink(missing_ok=True)
            return
        if self._failed or error is not None:
            # The last write stopped part-way through a line (a full disk): keep whole lines.
            with contextlib.suppress(OSError):
                os.truncate(tmp, self._good)
            self._finished = False
        self.kept = self.path if self._finished else interrupted_path(self.path)
        tmp.replace(self.kept)
        if error is not None and not self._failed:
            raise SinkError(f"cannot write to {self.path}: {error.strerror}") from None
