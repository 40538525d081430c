"""`ecr-crawler demo`: the embedded emulator, the sample registry, a full scan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_scans_the_sample_registry(tmp_path: Path) -> None:
    """The demo runs with no AWS settings at all and writes the whole sample registry."""
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
    assert "records written to demo-inventory.jsonl" in done.stderr
    lines = (tmp_path / "demo-inventory.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    summary = records[-1]
    assert summary["status"] == "complete"
    assert set(summary["regions"]) == {"us-east-1", "eu-west-1", "ap-southeast-2"}
    images = [r for r in records if r["type"] == "image"]
    assert len(images) == sum(c["images"] for c in summary["regions"].values()) > 50
    assert any(r["image_tags"] == [] for r in images)
    assert any(len(r["image_tags"]) >= 3 for r in images)
