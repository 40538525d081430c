"""Drive cartography's own ECR getters, as its AWS sync does, and write what they return.

Runs in bench/.venv-cartography (its own dependencies), as a script, never imported:

    bench/.venv-cartography/bin/python bench/cartography_driver.py --regions R1,R2 --output F

For each region: `get_ecr_repositories`, then `_get_image_data` (the function cartography's
`sync` calls: `get_ecr_repository_images` for each repository, 100 repositories at a time on
its thread pool). Images come back one per tag; the platform images of a manifest list come
back inside it (`_manifest_images`) and are written as untagged images of their own, so that
the inventory compares like for like.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from typing import IO, Any

import boto3

warnings.filterwarnings("ignore", category=DeprecationWarning)  # "tested on Python 3.13+ only"
# Only in the peer's own virtualenv, which the test venv's mypy does not see.
from cartography.intel.aws import ecr  # type: ignore[import-not-found]  # noqa: E402


def scan(regions: list[str], out: IO[str]) -> None:
    session = boto3.session.Session()
    for region in regions:
        repositories = ecr.get_ecr_repositories(session, region)
        image_data = ecr._get_image_data(session, region, repositories)
        for repository in repositories:
            name = repository["repositoryName"]
            account = repository["registryId"]
            _write(out, "repository", account, region, name)
            tags: dict[str, set[str]] = {}  # by digest
            for image in image_data.get(repository["repositoryUri"], []):
                found = tags.setdefault(image["imageDigest"], set())
                if "imageTag" in image:
                    found.add(image["imageTag"])
                for child in image.get("_manifest_images", []):
                    tags.setdefault(child["digest"], set())
            for digest, image_tags in tags.items():
                _write(
                    out,
                    "image",
                    account,
                    region,
                    name,
                    image_digest=digest,
                    image_tags=sorted(image_tags),
                )


def _write(out: IO[str], kind: str, account: str, region: str, name: str, **extra: Any) -> None:
    record = {"type": kind, "account": account, "region": region, "repository_name": name}
    out.write(json.dumps({**record, **extra}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="cartography_driver.py")
    parser.add_argument("--regions", required=True, help="comma-separated")
    parser.add_argument("--output", required=True, help="JSON lines file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with open(args.output, "w") as out:
        scan(args.regions.split(","), out)


if __name__ == "__main__":
    main()
