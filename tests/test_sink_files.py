"""Owner-only files: what the sinks create only its owner reads, and a database someone shared
keeps the mode they gave it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from crawler.sinks.files import create_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """A file created under a permissive umask is still 0600."""
    old = os.umask(0)
    try:
        os.close(create_private(tmp_path / "new"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "new") == 0o600


def test_an_existing_file_is_truncated_and_made_owner_only(tmp_path: Path) -> None:
    """A leftover temporary file loses its content and any wider mode."""
    path = tmp_path / "left"
    path.write_text("old")
    path.chmod(0o644)
    os.close(create_private(path))
    assert (path.read_text(), mode(path)) == ("", 0o600)


def test_without_truncate_an_existing_file_is_left_as_it_is(tmp_path: Path) -> None:
    """A database opened again keeps its rows and the mode its owner chose."""
    path = tmp_path / "inventory.db"
    path.write_text("rows")
    path.chmod(0o640)
    os.close(create_private(path, truncate=False))
    assert (path.read_text(), mode(path)) == ("rows", 0o640)
