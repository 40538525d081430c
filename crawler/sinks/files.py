"""Files the sinks create are owner-only (0600): with collect.policies or collect.registry a scan
holds the account's IAM policies."""

from __future__ import annotations

import os


def create_private(path: str | os.PathLike[str], *, truncate: bool = True) -> int:
    """A descriptor open for writing on `path`, created owner-only. A file that exists is
    truncated and made owner-only too; with `truncate=False` it is left as it is (a database
    the sink will open again, whose mode its owner chose)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, 0o600)
    if truncate:
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            os.close(fd)
            raise
    return fd
