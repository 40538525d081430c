"""Compare a tool's inventory with the simulator's exact one: repositories as (account, region,
name) and images as (account, region, repository, digest, sorted tags), each hashed to 64 bits
so that a million images compare in a few seconds and little memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.simulator import Registry


class Line(msgspec.Struct):
    """A line of the crawler's records or of the inventory format; other fields are skipped."""

    type: str
    account: str | None = None  # inventory format
    account_id: str | None = None  # crawler records
    region: str | None = None
    repository_name: str | None = None
    image_digest: str | None = None
    image_tags: list[str] | None = None


def key(
    kind: str, account: str, region: str, name: str, digest: str = "", tags: Iterable[str] = ()
) -> int:
    text = "\t".join((kind, account, region, name, digest, ",".join(sorted(tags))))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Expected:
    keys: frozenset[int]
    archived: frozenset[int]  # the archived images' keys: what imageStatus ACTIVE leaves out


def expected(registry: Registry, accounts: str | list[str]) -> Expected:
    """The exact inventory of one account, or of several."""
    keys: set[int] = set()
    archived: set[int] = set()
    for repo, image in registry.inventory([accounts] if isinstance(accounts, str) else accounts):
        if image is None:
            keys.add(key("repository", repo.account, repo.region, repo.name))
            continue
        digest, tags, is_archived = image
        k = key("image", repo.account, repo.region, repo.name, digest, tags)
        keys.add(k)
        if is_archived:
            archived.add(k)
    return Expected(frozenset(keys), frozenset(archived))


def keys_in(path: Path) -> Iterator[int]:
    """The inventory keys of a JSON lines file (repository and image lines only)."""
    decoder = msgspec.json.Decoder(Line)
    with path.open("rb") as lines:
        for raw in lines:
            line = decoder.decode(raw)
            if line.type not in ("image", "repository"):
                continue
            account = line.account or line.account_id or ""
            yield key(
                line.type,
                account,
                line.region or "",
                line.repository_name or "",
                line.image_digest or "",
                line.image_tags or (),
            )


@dataclass(frozen=True)
class Check:
    expected: int
    missing: int
    missing_archived: int
    extra: int
    duplicates: int

    @property
    def exact(self) -> bool:
        return not (self.missing or self.extra or self.duplicates)

    def text(self) -> str:
        if self.exact:
            return "yes"
        parts = []
        if self.missing:
            archived = "" if not self.missing_archived else f", {self.missing_archived:,} archived"
            parts.append(f"missing {self.missing:,}{archived}")
        if self.extra:
            parts.append(f"extra {self.extra:,}")
        if self.duplicates:
            parts.append(f"duplicates {self.duplicates:,}")
        return f"no ({'; '.join(parts)})"


def check(want: Expected, found: Iterable[int]) -> Check:
    seen: set[int] = set()
    duplicates = 0
    for k in found:
        if k in seen:
            duplicates += 1
        seen.add(k)
    missing = want.keys - seen
    return Check(
        expected=len(want.keys),
        missing=len(missing),
        missing_archived=len(missing & want.archived),
        extra=len(seen - want.keys),
        duplicates=duplicates,
    )
