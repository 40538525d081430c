"""The exact inventory of a scenario, as the records a complete scan must reproduce, with each
image's scan result in the scenario's scanning mode; and the check of a scan's scan results
against it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.simulator.findings import truth
from bench.simulator.registry import Registry


class RepositoryEntry(msgspec.Struct, tag="repository", tag_field="type", frozen=True):
    account: str
    region: str
    repository_name: str


class ImageEntry(msgspec.Struct, tag="image", tag_field="type", frozen=True):
    account: str
    region: str
    repository_name: str
    image_digest: str
    image_tags: list[str]  # sorted
    image_status: str
    # What a correct scan records (findings.truth): null when the image has no scan result.
    image_scan_status: str | None = None
    finding_severity_counts: dict[str, int] | None = None


def inventory(
    registry: Registry, accounts: list[str] | None = None
) -> Iterator[RepositoryEntry | ImageEntry]:
    """Every repository and image of the scenario (of `accounts`, if given), in listing order."""
    for account, region in registry.account_regions():
        if accounts is not None and account not in accounts:
            continue
        mode = registry.scenario.scan_mode(region)
        for repo in registry.repositories(account, region):
            yield RepositoryEntry(account, region, repo.name)
            for i in range(repo.image_count):
                meta = registry.meta(repo, i)
                status, counts = truth(
                    mode,
                    index=meta.no_scan,
                    archived=meta.archived,
                    draw=registry.scan_draw(repo, meta),
                )
                yield ImageEntry(
                    account,
                    region,
                    repo.name,
                    registry.digest(repo, meta),
                    sorted(meta.tags),
                    "ARCHIVED" if meta.archived else "ACTIVE",
                    status,
                    counts,
                )


class _Status(msgspec.Struct):
    status: str | None = None


class _Summary(msgspec.Struct):
    finding_severity_counts: dict[str, int] | None = None


class _Record(msgspec.Struct):
    """The fields of a crawler's image record the check reads; other records and fields are
    skipped."""

    type: str
    account_id: str | None = None
    region: str | None = None
    repository_name: str | None = None
    image_digest: str | None = None
    image_status: str | None = None
    image_scan_status: _Status | None = None
    image_scan_findings_summary: _Summary | None = None


@dataclass(frozen=True)
class ScanCheck:
    """A scan's image scan results against the truth, image by image (by account, region,
    repository and digest); `missing_archived` counts the archived images among `missing`."""

    expected: int  # images the truth gives a result
    matched: int  # the same status and severity counts
    wrong: int  # a result, but another one
    missing: int  # no result where the truth has one
    missing_archived: int
    extra: int  # a result where the truth has none, or an image the truth does not have

    @property
    def exact(self) -> bool:
        return not (self.wrong or self.extra or self.missing)


def check_scan_results(
    registry: Registry, records: Path, accounts: list[str] | None = None
) -> ScanCheck:
    """Compare the image records of a crawler's JSON lines output with the truth. Results are
    hashed to 64 bits per image, so that a million images cost a few tens of MB."""
    want: dict[int, int] = {}
    archived: set[int] = set()
    for entry in inventory(registry, accounts):
        if isinstance(entry, ImageEntry):
            key = _key(entry.account, entry.region, entry.repository_name, entry.image_digest)
            want[key] = _result(entry.image_scan_status, entry.finding_severity_counts)
            if entry.image_status == "ARCHIVED":
                archived.add(key)
    none = _result(None, None)
    expected = sum(1 for r in want.values() if r != none)
    matched = wrong = missing = missing_archived = extra = 0
    decoder = msgspec.json.Decoder(_Record)
    with records.open("rb") as lines:
        for line in lines:
            record = decoder.decode(line)
            if record.type != "image":
                continue
            key = _key(
                record.account_id or "",
                record.region or "",
                record.repository_name or "",
                record.image_digest or "",
            )
            status = record.image_scan_status.status if record.image_scan_status else None
            summary = record.image_scan_findings_summary
            got = _result(status, summary.finding_severity_counts if summary else None)
            truth_ = want.pop(key, None)
            if truth_ is None or (truth_ == none and got != none):
                extra += 1
            elif got == truth_:
                matched += truth_ != none
            elif got == none:
                missing += 1
                missing_archived += key in archived
            else:
                wrong += 1
    for key, result in want.items():  # images the scan did not list at all
        if result != none:
            missing += 1
            missing_archived += key in archived
    return ScanCheck(expected, matched, wrong, missing, missing_archived, extra)


def _key(account: str, region: str, repository: str, digest: str) -> int:
    text = "\t".join((account, region, repository, digest))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _result(status: str | None, counts: dict[str, int] | None) -> int:
    text = f"{status}|{sorted((counts or {}).items())}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
