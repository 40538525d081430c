"""Files the sinks create: only its owner reads them, and a database someone shared keeps the
mode they gave it; one rule for a missing directory in every file sink (refused, named, before
the scan); no file at all from a scan that failed before its first record; the path kept."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
from conftest import cli
from pg import summary

from crawler.errors import ConfigError
from crawler.records import Error, ScanRecord
from crawler.sinks import Sink, open_sink
from crawler.sinks.files import create_private

FILE_SINKS = ["jsonl:{}/out.jsonl", "jsonl:{}/out.jsonl.gz", "sqlite:{}/out.db", "parquet:{}/out"]
ERROR = Error(
    scan_id="s", account_id="1", region="r", operation="DescribeImages", error_code="X", message="m"
)


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


@pytest.mark.parametrize("uri", FILE_SINKS)
def test_a_missing_directory_is_refused_naming_it(tmp_path: Path, uri: str) -> None:
    """Every file sink refuses a path under a directory that does not exist, with the same
    message naming that directory and how to create it, and creates nothing."""
    missing = tmp_path / "no" / "such"
    with pytest.raises(ConfigError) as refused:
        open_sink(uri.format(missing))
    assert f"no such directory: {missing} (create it first: mkdir -p {missing})" in str(
        refused.value
    )
    assert list(tmp_path.iterdir()) == []


def test_a_parquet_sink_creates_its_own_directory_only(tmp_path: Path) -> None:
    """parquet:DIR is the sink's own output, as a jsonl:PATH file is: DIR is created, its
    parent is not."""
    sink = open_sink(f"parquet:{tmp_path / 'dataset'}")
    assert (tmp_path / "dataset").is_dir()
    anyio.run(sink.aclose)


async def close(sink: Sink, *batches: Sequence[ScanRecord]) -> None:
    for batch in batches:
        await sink.write(batch)
    await sink.aclose()


@pytest.mark.parametrize("uri", FILE_SINKS)
def test_a_sink_never_written_leaves_no_file(tmp_path: Path, uri: str) -> None:
    """A sink opened and closed without a record (the scan failed first) leaves nothing behind,
    neither an empty interrupted file nor an empty database or dataset."""
    sink = open_sink(uri.format(tmp_path))
    anyio.run(close, sink)
    assert list(tmp_path.iterdir()) == []
    assert sink.kept is None  # type: ignore[attr-defined]


def test_a_database_that_was_there_stays(tmp_path: Path) -> None:
    """An existing database opened by a scan that wrote nothing is the user's: it stays, and
    the scan does not claim it kept records there."""
    anyio.run(close, open_sink(f"sqlite:{tmp_path / 'out.db'}"), [summary()])
    sink = open_sink(f"sqlite:{tmp_path / 'out.db'}")
    anyio.run(close, sink)
    assert (tmp_path / "out.db").exists()
    assert sink.kept is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("uri", "last", "kept"),
    [
        ("jsonl:{}/out.jsonl", summary(), "out.jsonl"),
        ("jsonl:{}/out.jsonl", summary(status="interrupted"), "out.interrupted.jsonl"),
        ("jsonl:{}/out.jsonl.gz", ERROR, "out.interrupted.jsonl.gz"),
        ("sqlite:{}/out.db", ERROR, "out.db"),
        ("parquet:{}/out", ERROR, "out"),
    ],
)
def test_kept_is_where_the_records_are(
    tmp_path: Path, uri: str, last: ScanRecord, kept: str
) -> None:
    """Once closed, `kept` names the file (or database, or dataset) that holds the records,
    under the name that says whether the scan finished."""
    sink = open_sink(uri.format(tmp_path))
    anyio.run(close, sink, [ERROR, last])
    assert sink.kept == tmp_path / kept  # type: ignore[attr-defined]
    assert sink.kept.exists()  # type: ignore[attr-defined]


@pytest.mark.parametrize("uri", FILE_SINKS)
def test_a_scan_without_credentials_leaves_no_file(tmp_path: Path, uri: str) -> None:
    """`ecr-crawler scan` with no credentials at all fails (exit 3) before its first record
    and leaves no file in the sink's directory."""
    out = tmp_path / "out"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    result = cli("scan", "--regions", "us-east-1", "--sink", uri.format(out), env=env)
    assert result.code == 3, result.stderr
    assert list(out.iterdir()) == []
