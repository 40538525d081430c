"""The Parquet sink: hive-partitioned datasets pyarrow reads with Arrow's own types, files that
appear only when complete, interrupted scans kept out of sight, prune to the latest scan."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pg
import pyarrow as pa
import pyarrow.dataset as ds
from awsproxy import AwsProxy, Rule
from conftest import REGIONS, make_config, truth
from pg import doc_blocks, lean_config, scan_into

from crawler.config import SinkOptions
from crawler.records import Error, Image, RegionCounts, ScanRecord, ScanSummary
from crawler.sinks import open_sink
from crawler.sinks.parquet import ParquetSink

# Account ids are strings (they may start with 0): declare the partition types rather than
# letting hive partitioning infer integers.
PARTITIONING = ds.partitioning(
    pa.schema([("account_id", pa.string()), ("region", pa.string())]), flavor="hive"
)


def read(directory: Path, dataset: str, **options: Any) -> pa.Table:
    return ds.dataset(directory / dataset, format="parquet", **options).to_table()


def visible(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def test_datasets_have_arrows_types_and_the_emulators_inventory(
    tmp_path: Path, proxy: AwsProxy
) -> None:
    """Every record type is a dataset partitioned by account and region; timestamps, lists,
    structs and maps keep their types; the rows are the emulator's inventory."""
    summary = scan_into(make_config(proxy), open_sink(f"parquet:{tmp_path}"))
    images = read(tmp_path, "images", partitioning=PARTITIONING)
    schema = images.schema
    assert schema.field("account_id").type == pa.string()
    assert schema.field("image_pushed_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("image_tags").type == pa.list_(pa.string())
    assert schema.field("image_size_in_bytes").type == pa.int64()
    assert pa.types.is_struct(schema.field("image_scan_findings_summary").type)
    rows = images.to_pylist()
    assert (
        sorted(
            (r["region"], r["repository_name"], r["image_digest"], tuple(r["image_tags"]))
            for r in rows
        )
        == truth(proxy.upstream, REGIONS)[1]
    )
    assert {r["account_id"] for r in rows} == {summary.account_id}
    assert {r["scan_id"] for r in rows} == {summary.scan_id}
    assert all(r["image_pushed_at"].tzinfo is not None for r in rows)
    # plain `partitioning="hive"` reads it too
    assert read(tmp_path, "repositories", partitioning="hive").num_rows == len(
        truth(proxy.upstream, REGIONS)[0]
    )
    [scan] = read(tmp_path, "scans", partitioning=PARTITIONING).to_pylist()
    assert scan["status"] == "complete"
    assert dict(scan["regions"])["eu-west-1"]["images"] == summary.regions["eu-west-1"].images
    assert not [name for name in visible(tmp_path) if not name.startswith("part-")]
    modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*.parquet")}
    assert modes == {0o600}  # owner-only: they may hold IAM policies


def test_files_appear_only_when_complete(tmp_path: Path) -> None:
    """Until the sink closes after a finished scan, only hidden temporary files exist, which
    readers skip; then each becomes part-<scan_id>-<n>.parquet."""
    sink = ParquetSink(tmp_path)
    anyio.run(sink.write, [image("s1", 1), image("s1", 2, region="eu-west-1")])
    assert visible(tmp_path) == []  # still buffered
    sink._buffered = 10**9  # force a flush to disk mid-scan
    anyio.run(sink.write, [image("s1", 3)])
    hidden = visible(tmp_path)
    assert hidden
    assert all(n.startswith(".part-s1-") and n.endswith(".tmp") for n in hidden)
    assert read(tmp_path, "images", partitioning=PARTITIONING).num_rows == 0
    anyio.run(sink.write, [summary("s1")])
    anyio.run(sink.aclose)
    assert set(visible(tmp_path)) == {"part-s1-0000.parquet"}
    assert read(tmp_path, "images", partitioning=PARTITIONING).num_rows == 3


def test_interrupted_scan_is_kept_out_of_sight(tmp_path: Path, proxy: AwsProxy) -> None:
    """An interrupted scan's files are kept as _interrupted-*.parquet, which readers skip."""
    proxy.rules.append(Rule("latency", delay=0.02))
    result = scan_into(lean_config(proxy), open_sink(f"parquet:{tmp_path}"), interrupt_at=1)
    assert result.status == "interrupted"
    names = visible(tmp_path)
    assert names
    assert all(n.startswith(f"_interrupted-{result.scan_id}-") for n in names)
    assert read(tmp_path, "repositories", partitioning=PARTITIONING).num_rows == 0


def test_prune_keeps_only_the_latest_complete_scan(tmp_path: Path, proxy: AwsProxy) -> None:
    """Scans add files; a complete scan with prune removes the earlier scans' inventory files
    (errors and scans stay)."""
    config = lean_config(proxy, regions=["eu-west-1"])
    uri = f"parquet:{tmp_path}"
    scan_into(config, open_sink(uri))
    scan_into(config, open_sink(uri))
    _, images = truth(proxy.upstream, ["eu-west-1"])
    assert read(tmp_path, "images", partitioning=PARTITIONING).num_rows == 2 * len(images)
    last = scan_into(config, open_sink(uri, SinkOptions(prune=True)))
    table = read(tmp_path, "images", partitioning=PARTITIONING)
    assert table.num_rows == len(images)
    assert set(table.column("scan_id").to_pylist()) == {last.scan_id}
    assert read(tmp_path, "scans", partitioning=PARTITIONING).num_rows == 3


def test_values_of_no_fixed_type_are_json_text(tmp_path: Path, proxy: AwsProxy) -> None:
    """A field typed `dict[str, Any]` (a policy document) is a JSON string column."""
    config = lean_config(proxy, regions=["eu-west-1"], **{"collect.policies": True})
    scan_into(config, open_sink(f"parquet:{tmp_path}"))
    repositories = read(tmp_path, "repositories", partitioning=PARTITIONING)
    assert repositories.schema.field("lifecycle_policy").type == pa.string()
    policies = [p for p in repositories.column("lifecycle_policy").to_pylist() if p]
    assert all(isinstance(json.loads(p), dict) for p in policies)


def test_error_records_are_written_with_their_record_hash(tmp_path: Path) -> None:
    """A scan's `error` records (a table keyed by a content hash) land in the errors dataset,
    with the same record_hash for the same content."""
    error = Error(
        scan_id="s1",
        account_id="012345678901",
        region="us-east-1",
        operation="DescribeImages",
        error_code="AccessDenied",
        message="no",
    )
    sink = ParquetSink(tmp_path)
    batch: list[ScanRecord] = [
        error,
        msgspec.structs.replace(error, message="other"),
        summary("s1"),
    ]
    anyio.run(sink.write, batch)
    anyio.run(sink.aclose)
    errors = read(tmp_path, "errors", partitioning=PARTITIONING).to_pylist()
    assert sorted(e["message"] for e in errors) == ["no", "other"]
    assert len({e["record_hash"] for e in errors}) == 2


def image(scan_id: str, n: int, region: str = "us-east-1") -> Image:
    return Image(
        scan_id=scan_id,
        account_id="012345678901",
        region=region,
        registry_id="012345678901",
        repository_name="r",
        image_digest=f"sha256:{n:064x}",
        image_tags=[],
        image_uri="u",
    )


def summary(scan_id: str) -> ScanSummary:
    regions = {"us-east-1": RegionCounts(images=2), "eu-west-1": RegionCounts(images=1)}
    return pg.summary(scan_id=scan_id, account_id="012345678901", regions=regions)


def test_documented_reads_work(tmp_path: Path, proxy: AwsProxy) -> None:
    """The pyarrow and DuckDB reads of docs/sinks.md work on a scan's datasets as written."""
    import duckdb

    scan_into(lean_config(proxy), open_sink(f"parquet:{tmp_path / 'inventory'}"))
    [python] = doc_blocks("Parquet", "python")
    scope: dict[str, Any] = {}
    exec(python.replace('"inventory/', f'"{tmp_path}/inventory/'), scope)
    images = scope["images"]
    assert images.schema.field("account_id").type == pa.string()
    [sql] = doc_blocks("Parquet")
    rows = (
        duckdb.connect().execute(sql.replace("'inventory/", f"'{tmp_path}/inventory/")).fetchall()
    )
    untagged = sum(1 for tags in images.column("image_tags").to_pylist() if not tags)
    assert sum(n for _, n in rows) == untagged > 0
