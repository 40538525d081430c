"""The names the synthetic registry gives: the access key of each account, repository names,
image tags (made from the image's index, so that finding an image by tag is a parse) and
cosign's signature tags."""

from __future__ import annotations

import re
from collections.abc import Callable

TEAMS = ("platform", "payments", "search", "data", "ml", "web", "mobile", "infra", "security")
SERVICES = (
    "api", "worker", "gateway", "scheduler", "indexer", "frontend", "ingest", "notifier",
    "billing", "auth", "reports", "exporter", "proxy", "cache", "batch", "runner",
)  # fmt: skip
LATEST = "latest"
TAG_PARSERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], int]], ...] = (
    (re.compile(r"1\.(\d+)\.(\d\d)"), lambda m: int(m[1]) * 100 + int(m[2])),
    (re.compile(r"git-([0-9a-f]{7,})"), lambda m: int(m[1], 16)),
    (re.compile(r"build-(\d+)"), lambda m: int(m[1])),
    (re.compile(r"rc-(\d+)"), lambda m: int(m[1])),
)
# A cosign signature's tag names its subject, the image before it.
COSIGN_TAG = re.compile(r"sha256-([0-9a-f]{64})\.sig")


def access_key(account: str) -> str:
    """The access key id of `account`: AKIA, the 12 digits, BNCH (20 characters, like AWS's)."""
    return f"AKIA{account}BNCH"


def account_of(key: str) -> str | None:
    """The account of an AKIA/ASIA access key whose characters 5-16 are digits, else None."""
    if len(key) >= 16 and key[:4] in ("AKIA", "ASIA") and key[4:16].isdigit():
        return key[4:16]
    return None


def tags_of(i: int, extra: int, latest: bool) -> tuple[str, ...]:
    tags = [f"1.{i // 100}.{i % 100:02d}"]
    if extra >= 1:
        tags.append(f"git-{i:07x}")
    if extra >= 2:
        tags.append(f"build-{i}")
    if extra >= 3:
        tags.append(f"rc-{i}")
    if latest:
        tags.append(LATEST)
    return tuple(tags)


def repository_name(position: int) -> str:
    """Unique, readable names: team/service, then team/service-2, ..."""
    team = TEAMS[position % len(TEAMS)]
    rest = position // len(TEAMS)
    service = SERVICES[rest % len(SERVICES)]
    round_ = rest // len(SERVICES)
    return f"{team}/{service}" if round_ == 0 else f"{team}/{service}-{round_ + 1}"
