"""Files the sinks create: owner-only (0600), since with collect.policies or collect.registry a
scan holds the account's IAM policies; and only inside a directory that exists."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from crawler.errors import ConfigError


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


def need_directory(path: Path, sink: str, what: str) -> None:
    """A sink creates its own `what` (file, database, directory), never the directories above
    it: a missing one is more often a typo or a volume not mounted than a wish, and it fails
    before the scan."""
    parent = path.parent
    if parent.is_dir():
        return
    where = f"sink '{sink}': cannot create {what}"
    if parent.exists():
        raise ConfigError(f"{where}: {parent} is not a directory")
    raise ConfigError(
        f"{where}: no such directory: {parent} (create it first: "
        f"mkdir -p {shlex.quote(str(parent))})"
    )
