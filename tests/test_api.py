"""The public library API: `crawler.scan`, `crawler.load_config`, `crawler.open_sink` and the
record types, as README's "Use as a library" shows them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import msgspec
import pytest
from awsproxy import AwsProxy
from conftest import ACCESS_KEY, FAST_RETRY, SECRET_KEY, inventory, truth

import crawler


def test_all_names_resolve_and_match_the_exports() -> None:
    """Every name in `crawler.__all__` is importable from `crawler`, and nothing else is."""
    exported = {name for names in crawler._EXPORTS.values() for name in names}
    assert set(crawler.__all__) == exported | {"__version__"}
    for name in crawler.__all__:
        assert getattr(crawler, name) is not None


def test_import_crawler_does_not_load_the_aws_libraries() -> None:
    """`import crawler` stays cheap: aiobotocore loads only when a scan needs it."""
    code = "import sys, crawler; print('aiobotocore' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_library_scan_writes_the_inventory_to_a_sink(
    proxy: AwsProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan through the public names writes the exact inventory, summary last."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    config = crawler.load_config(
        None,
        regions=["us-east-1"],
        endpoint_url=proxy.url,
        cache_dir=str(tmp_path / "cache"),
        **FAST_RETRY,
    )
    out = tmp_path / "inventory.jsonl"
    sink = crawler.open_sink(f"jsonl:{out}")

    async def main() -> crawler.ScanSummary:
        try:
            return await crawler.scan(config, sink)
        finally:
            await sink.aclose()

    summary = anyio.run(main)
    assert summary.status == "complete"
    lines = out.read_bytes().splitlines()
    records = [msgspec.json.decode(line, type=crawler.ScanRecord) for line in lines]
    assert isinstance(records[-1], crawler.ScanSummary)
    assert inventory(records) == truth(proxy.upstream, ["us-east-1"])
