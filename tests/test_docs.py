"""The README's recipes and examples work as written, against the emulator."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from awsproxy import AwsProxy
from conftest import cli

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def recipe(title: str) -> str:
    """The first code block after the paragraph that starts with `title`."""
    after = README[README.index(title) :]
    return found(r"```\n(.*?)```", after, 1)


def found(pattern: str, text: str, group: int = 0) -> str:
    """The `group` of the first match of `pattern` in `text` (dot matches newlines), which must
    match."""
    match = re.search(pattern, text, re.S)
    assert match, f"no {pattern!r} in {text[:200]!r}"
    return match.group(group)


@pytest.fixture
def inventory(aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path) -> Path:
    path = tmp_path / "inventory.jsonl"
    result = cli("scan", "--regions", "us-east-1,eu-west-1", "--sink", f"jsonl:{path}", env=aws_env)
    assert result.code == 0, result.stderr
    return path


def jq(program_line: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        program_line, shell=True, cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_pipeline_recipes_run(inventory: Path) -> None:
    """The jq and DuckDB commands of "Into a data pipeline" give the expected answers."""
    block = recipe("**Into a data pipeline.**")
    jq_line = next(line for line in block.splitlines() if line.startswith("jq "))
    untagged = jq(jq_line, inventory.parent)
    assert untagged
    assert all("@sha256:" in uri for uri in untagged)

    import duckdb

    sql = found(r'duckdb -c "(.*?)"', block, 1)
    rows = duckdb.connect().execute(sql.replace("inventory.jsonl", str(inventory))).fetchall()
    images = sum(row[2] for row in rows)
    lines = inventory.read_text().splitlines()
    assert images == sum(1 for line in lines if line.startswith('{"type":"image"'))


def test_scanner_recipe_lists_runnable_images_by_digest(inventory: Path) -> None:
    """The scanner recipe's jq lists each active container image by digest, once: no index,
    Helm chart, signature, SBOM, attestation or other artifact."""
    block = recipe("**Feeding a vulnerability scanner.**")
    command = block.split("\naws ecr", 1)[0].replace("\n", " ")
    jq(command, inventory.parent)
    uris = (inventory.parent / "images.txt").read_text().split()
    assert uris == sorted(set(uris))
    assert all(re.fullmatch(r"\S+\.dkr\.ecr\.\S+/\S+@sha256:[0-9a-f]{64}", u) for u in uris)
    images = [
        json.loads(line)
        for line in inventory.read_text().splitlines()
        if line.startswith('{"type":"image"')
    ]
    kinds = {i["artifact_kind"] for i in images}
    assert {"image_index", "helm_chart", "signature", "sbom", "attestation", "artifact"} <= kinds
    assert set(uris) == {
        i["image_uri"]
        for i in images
        if i["artifact_kind"] == "container_image" and i["image_status"] == "ACTIVE"
    }


def test_github_actions_example_is_valid_with_the_expected_steps() -> None:
    """The shipped workflow is valid YAML: OIDC, AWS credentials, permissions, scan, upload."""
    workflow = yaml.safe_load((ROOT / "docs/examples/github-actions.yml").read_text())
    job = workflow["jobs"]["inventory"]
    assert workflow["permissions"]["id-token"] == "write"
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "ecr-crawler permissions" in runs
    assert "ecr-crawler scan --regions all" in runs


def test_readme_layout_names_every_module_and_only_modules_that_exist() -> None:
    """Every module of crawler/ is named in README's Development table, under its package, and
    every file the table names exists."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Development\n") : text.index("\n### Use as a library\n")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named: set[Path] = set()
    for row in rows:
        first, second = row.split(" | ")[:2]
        dirs = re.findall(r"`([\w/]+/)`", first)
        base = ROOT / "crawler" / (dirs[0] if dirs else "")
        for name in re.findall(r"`([\w/]+\.py)`", first + " | " + second):
            named.add(base / name if dirs else ROOT / "crawler" / name)
        # ecr/: "one module per ECR resource: repositories, images, ..."
        for word in re.findall(r"\b([a-z_]+)\b", second) if dirs else ():
            if (base / f"{word}.py").exists():
                named.add(base / f"{word}.py")
    missing = [p for p in named if not p.exists()]
    assert not missing, missing
    modules = {
        p
        for p in (ROOT / "crawler").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and p.parent.name != "checks"
    }
    unnamed = sorted(str(p.relative_to(ROOT)) for p in modules - named)
    assert not unnamed, unnamed
