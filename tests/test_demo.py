"""`ecr-crawler demo`: the embedded emulator, the sample registry, a full scan into SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path


def test_demo_scans_the_sample_registry(tmp_path: Path) -> None:
    """The demo runs with no AWS settings at all, writes the whole sample registry into
    demo-inventory.db and shows example queries that work on it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / ".cache")
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "records written to demo-inventory.db" in done.stderr
    with closing(sqlite3.connect(tmp_path / "demo-inventory.db")) as db:
        status, regions = db.execute("SELECT status, regions FROM scans").fetchone()
        counts = json.loads(regions)
        images = db.execute("SELECT json_array_length(image_tags) FROM images").fetchall()
        kinds = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for query in [
            line.split('"')[1] for line in done.stderr.splitlines() if "sqlite3 " in line
        ]:
            assert db.execute(query).fetchall()
    assert status == "complete"
    assert set(counts) == {"us-east-1", "eu-west-1", "ap-southeast-2"}
    assert len(images) == sum(c["images"] for c in counts.values()) > 50
    assert (0,) in images
    assert max(images)[0] >= 3
    # every record type of the demo lands in a table of its own
    assert {"repositories", "image_manifests", "scan_findings", "registries"} <= kinds


def test_an_index_lists_its_children_by_the_digest_and_size_they_are_pushed_with() -> None:
    """The sample index's descriptors are the digests and sizes of the children's exact text,
    as ECR computes them, so the crawler can fold children under their parent."""
    from crawler.demo.data import child, encode, index, oci_manifest

    manifest = oci_manifest("test/amd64")
    text, digest = encode(manifest)
    parent = index([child(manifest, {"os": "linux", "architecture": "amd64"})])
    assert parent["manifests"][0]["digest"] == digest
    assert parent["manifests"][0]["size"] == len(text)
