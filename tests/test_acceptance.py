"""Acceptance: what `ecr-crawler scan` reports equals what the awscli reports for the same
emulator state, field by field."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from awsproxy import AwsProxy
from conftest import cli

REGIONS = ["us-east-1", "eu-west-1"]
# Our additions to AWS's fields; everything else must match AWS's answer.
OURS = {
    "type",
    "scan_id",
    "account_id",
    "region",
    "image_uri",
    "index_digests",
    "artifact_kind",
    "artifact_kind_by",
    "subject_digest",
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def normalise(value: Any, key: str = "") -> Any:
    """AWS's JSON in our spelling: snake_case keys (severity names stay as AWS spells them),
    timestamps as datetimes, and absent fields dropped."""
    if isinstance(value, dict):
        return {
            (k if key == "finding_severity_counts" else snake(k)): normalise(v, snake(k))
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)", value):
        return datetime.fromisoformat(value)
    return value


def aws(*args: str, env: dict[str, str]) -> Any:
    executable = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert executable, "awscli is a dev dependency"
    done = subprocess.run(
        [executable, *args, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def repository_scanning(
    repositories: list[dict[str, Any]], region: str, env: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Each repository's effective scanning, as batch-get-repository-scanning-configuration
    gives it (25 names a call), without the fields that name the repository."""
    names = [r["repositoryName"] for r in repositories]
    found = {}
    for start in range(0, len(names), 25):
        args = ["--repository-names", *names[start : start + 25]]
        reply = aws(
            "ecr", "batch-get-repository-scanning-configuration", "--region", region, *args, env=env
        )
        for item in reply["scanningConfigurations"]:
            name = item["repositoryName"]
            found[name] = {
                k: v for k, v in item.items() if k not in ("repositoryArn", "repositoryName")
            }
    return found


def test_scan_equals_awscli_field_by_field(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """Every repository and image field equals what `aws ecr describe-*` (and, for scanning,
    batch-get-repository-scanning-configuration) returns."""
    awscli_config = tmp_path / "awscli-config"
    # awscli v1 prints the wire's epoch seconds unless told otherwise
    awscli_config.write_text("[default]\ncli_timestamp_format = iso8601\n")
    aws_env = {**aws_env, "AWS_CONFIG_FILE": str(awscli_config), "TZ": "UTC"}
    result = cli("scan", "--regions", ",".join(REGIONS), env=aws_env)
    assert result.code == 0, result.stderr
    ours: dict[tuple[str, ...], Any] = {}
    for record in result.records():
        if record["type"] in ("repository", "image"):
            fields = {k: v for k, v in record.items() if k not in OURS}
            key: tuple[str, ...] = (record["type"], record["region"], record["repository_name"])
            if record["type"] == "image":
                key += (record["image_digest"],)
            ours[key] = normalise(fields)

    theirs: dict[tuple[str, ...], Any] = {}
    for region in REGIONS:
        repositories = aws("ecr", "describe-repositories", "--region", region, env=aws_env)
        scanning = repository_scanning(repositories["repositories"], region, aws_env)
        for repo in repositories["repositories"]:
            name = repo["repositoryName"]
            theirs[("repository", region, name)] = normalise(
                {**repo, "scanningConfiguration": scanning[name]}
            )
            images = aws(
                "ecr",
                "describe-images",
                "--region",
                region,
                "--repository-name",
                name,
                "--filter",
                "tagStatus=ANY,imageStatus=ANY",
                env=aws_env,
            )["imageDetails"]
            for image in images:
                image.setdefault("imageTags", [])
                image["imageTags"] = sorted(image["imageTags"])
                theirs[("image", region, name, image["imageDigest"])] = normalise(image)

    assert ours.keys() == theirs.keys()
    assert sum(k[0] == "image" for k in ours) > 20
    for key, expected in theirs.items():
        assert ours[key] == expected, key
