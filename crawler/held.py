"""The image records of one repository, held while its index manifests are read: an image's
`index_digests` are known only once every index of its repository is. A repository of one
page stays as records; from its second page on, every page is kept encoded in a spooled file
(memory up to SPOOL_BYTES, then disk), so the memory a scan holds stays flat however large
its largest repositories and however many of them are read at once."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import msgspec

from crawler.ecr.signing import SignedBy, signature_subjects
from crawler.media_types import INDEX_TYPES
from crawler.records import Image

SPOOL_BYTES = 1 << 16
_LENGTH = struct.Struct("<I")
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[Image])


class HeldImages:
    """Pages of image records in listing order, and what the repository's manifests need:
    its index digests and the digests that signatures are about."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._first: list[Image] | None = None
        self._spool: tempfile.SpooledTemporaryFile[bytes] | None = None
        self.pages = 0
        self.indexes: list[str] = []
        # The first page's images that are no index: their manifests are asked with the indexes'.
        self.first_digests: list[str] = []
        self.subjects: SignedBy = {}

    def add(self, page: list[Image]) -> None:
        if not page:
            return
        self.pages += 1
        self.indexes += [i.image_digest for i in page if i.image_manifest_media_type in INDEX_TYPES]
        self.subjects.update(signature_subjects(page))
        if self.pages == 1:
            self._first = page
            self.first_digests = [
                i.image_digest for i in page if i.image_manifest_media_type not in INDEX_TYPES
            ]
            return
        if self._spool is None:
            self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by __exit__)
                max_size=SPOOL_BYTES, dir=str(self._directory), prefix="ecr-crawler-images-"
            )
        if self._first is not None:
            self._write(self._first)
            self._first = None
        self._write(page)

    def _write(self, page: list[Image]) -> None:
        assert self._spool is not None
        data = _ENCODER.encode(page)
        self._spool.write(_LENGTH.pack(len(data)) + data)

    def __iter__(self) -> Iterator[list[Image]]:
        if self._first is not None:
            yield self._first
        spool = self._spool
        if spool is None:
            return
        spool.seek(0)
        while header := spool.read(_LENGTH.size):
            (length,) = _LENGTH.unpack(header)
            yield _DECODER.decode(spool.read(length))

    def __enter__(self) -> HeldImages:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._spool is not None:
            self._spool.close()
