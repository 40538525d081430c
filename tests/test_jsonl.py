"""The JSON lines sink: one record per line, temporary name until the scan ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import anyio
import msgspec
import pytest
from pg import summary

from crawler.errors import ConfigError, SinkError
from crawler.records import Error
from crawler.sinks import open_sink
from crawler.sinks.jsonl import JsonlSink, interrupted_path

ERROR = Error(
    scan_id="s", account_id="1", region="r", operation="DescribeImages", error_code="X", message="m"
)


def write_and_close(sink: JsonlSink, *batches: list[object]) -> None:
    async def run() -> None:
        for batch in batches:
            await sink.write(batch)  # type: ignore[arg-type]
        await sink.aclose()

    anyio.run(run)


def test_interrupted_name_keeps_the_extensions() -> None:
    """inventory.jsonl.gz is kept as inventory.interrupted.jsonl.gz."""
    assert interrupted_path(Path("/x/inventory.jsonl.gz")) == Path(
        "/x/inventory.interrupted.jsonl.gz"
    )


def test_file_appears_only_when_the_scan_ends(tmp_path: Path) -> None:
    """Until the summary is written and the sink closed, only a temporary file exists."""
    target = tmp_path / "out.jsonl"
    sink = JsonlSink(target)
    anyio.run(sink.write, [ERROR])
    assert not target.exists()
    write_and_close(sink, [summary()])
    lines = target.read_bytes().splitlines()
    assert [msgspec.json.decode(line)["type"] for line in lines] == ["error", "scan_summary"]
    assert lines[0].startswith(b'{"type":"error","scan_id":"s","account_id":"1","region":"r"')
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


@pytest.mark.parametrize("last", [ERROR, summary(status="interrupted")])
def test_unfinished_scan_is_kept_under_a_name_that_says_so(tmp_path: Path, last: object) -> None:
    """Closing without a finished summary keeps the records as NAME.interrupted.jsonl."""
    write_and_close(JsonlSink(tmp_path / "out.jsonl"), [ERROR, last])
    assert [p.name for p in tmp_path.iterdir()] == ["out.interrupted.jsonl"]


def test_sink_uris() -> None:
    """'-', 'jsonl:-' and 'jsonl:PATH' are sinks; anything else is a config error with a hint."""
    assert open_sink("-").path is None  # type: ignore[attr-defined]
    assert open_sink("jsonl:-").path is None  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"did you mean 'jsonl:inv\.jsonl'"):
        open_sink("inv.jsonl")


def test_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    """A sink path in a missing directory fails before the scan starts."""
    with pytest.raises(ConfigError, match="no such directory"):
        JsonlSink(tmp_path / "missing" / "out.jsonl")


def test_a_closed_stdout_is_a_broken_pipe_not_a_sink_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records to a pipe whose reader is gone (`| head`) raise BrokenPipeError as it is, which
    the CLI takes as a normal end; a stdout that fails otherwise is a SinkError."""
    read, write = os.pipe()
    os.close(read)
    with open(write, "wb", buffering=0) as closed:
        monkeypatch.setattr(sys, "stdout", SimpleNamespace(buffer=closed))
        with pytest.raises(BrokenPipeError):
            anyio.run(JsonlSink(None).write, [ERROR])
    with open(os.devnull, "rb") as unwritable:
        monkeypatch.setattr(sys, "stdout", SimpleNamespace(buffer=unwritable))
        with pytest.raises(SinkError, match="cannot write to stdout"):
            anyio.run(JsonlSink(None).write, [ERROR])
