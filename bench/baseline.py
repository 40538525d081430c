"""The scan a user writes from AWS's documentation: boto3 paginators, one call at a time.

    python -m bench.baseline --regions us-east-1,eu-west-1 --output inventory.jsonl

DescribeRepositories, then DescribeImages of each repository with filter tagStatus ANY, with
boto3's default retries and page sizes, as a user would leave them. It writes the same JSON
lines as `python -m bench.simulator inventory` (without image_status), so the benchmark can
compare it with the exact inventory.
"""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

import boto3


def scan(regions: list[str], out: IO[str]) -> None:
    session = boto3.session.Session()
    for region in regions:
        ecr = session.client("ecr", region_name=region)
        for page in ecr.get_paginator("describe_repositories").paginate():
            for repository in page["repositories"]:
                name = repository["repositoryName"]
                account = repository["registryId"]
                _write(out, "repository", account, region, name)
                images = ecr.get_paginator("describe_images").paginate(
                    repositoryName=name, filter={"tagStatus": "ANY"}
                )
                for image_page in images:
                    for image in image_page["imageDetails"]:
                        _write(
                            out,
                            "image",
                            account,
                            region,
                            name,
                            image_digest=image["imageDigest"],
                            image_tags=sorted(image.get("imageTags", [])),
                        )


def _write(out: IO[str], kind: str, account: str, region: str, name: str, **extra: Any) -> None:
    record = {"type": kind, "account": account, "region": region, "repository_name": name}
    out.write(json.dumps({**record, **extra}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("--regions", required=True, help="comma-separated")
    parser.add_argument("--output", required=True, help="JSON lines file")
    args = parser.parse_args()
    with open(args.output, "w") as out:
        scan(args.regions.split(","), out)


if __name__ == "__main__":
    main()
