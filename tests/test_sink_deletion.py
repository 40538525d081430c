"""Which rows a scan's end may mark deleted: complete account-regions only, per account, and
other inventories than repositories and images only where they were collected in full."""

from __future__ import annotations

from typing import Any

import pg

from crawler.records import Error, Image, RegionCounts, Repository, ScanFinding, ScanSummary
from crawler.sinks.deletion import Tally
from crawler.sinks.tables import group, known_tables


def placed(account: str, region: str) -> dict[str, Any]:
    """The fields that put a record in repository r of an account-region."""
    return {
        "scan_id": "s",
        "account_id": account,
        "region": region,
        "registry_id": account,
        "repository_name": "r",
    }


def repository(account: str, region: str) -> Repository:
    return Repository(**placed(account, region))


def image(account: str, region: str) -> Image:
    return Image(**placed(account, region), image_digest="sha256:1", image_tags=[], image_uri="u")


def finding(account: str, region: str) -> ScanFinding:
    return ScanFinding(**placed(account, region), image_digest="sha256:1", scan_type="BASIC")


def summary(status: str, accounts: dict[str, dict[str, RegionCounts]]) -> ScanSummary:
    return pg.summary(status=status, account_id="111111111111", accounts=accounts)


def deletions(records: list[Any], end: ScanSummary) -> set[tuple[str, str, str]]:
    tally = Tally()
    for record in records:  # one batch a record, as a slow scan would send them
        tally.add(group([record])[0])
    return {(t.name, a, r) for t, a, r in tally.deletions(end, known_tables())}


A, B = "111111111111", "222222222222"
ONE = RegionCounts(repositories=1, images=1)


def test_complete_account_regions_of_every_account_are_marked() -> None:
    """Each account's regions count on their own; one with errors is left alone."""
    records = [repository(A, "r1"), image(A, "r1"), repository(B, "r1"), image(B, "r1")]
    end = summary("complete", {A: {"r1": ONE, "r2": RegionCounts(errors=1)}, B: {"r1": ONE}})
    assert deletions(records, end) == {
        ("repositories", A, "r1"),
        ("images", A, "r1"),
        ("repositories", B, "r1"),
        ("images", B, "r1"),
    }


def test_nothing_is_marked_unless_the_scan_is_complete() -> None:
    """Partial and interrupted scans mark nothing, however clean a region looks."""
    records = [repository(A, "r1"), image(A, "r1")]
    for status in ("partial", "interrupted"):
        assert deletions(records, summary(status, {A: {"r1": ONE}})) == set()


def test_an_empty_region_is_marked_and_a_short_count_is_not() -> None:
    """A region with no repository left is complete; one where the sink got fewer records
    than the summary counts is not."""
    end = summary("complete", {A: {"empty": RegionCounts(), "short": RegionCounts(repositories=2)}})
    assert deletions([repository(A, "short")], end) == {
        ("repositories", A, "empty"),
        ("images", A, "empty"),
    }


def test_other_inventories_only_where_collected_in_full() -> None:
    """Scan findings are marked where the scan delivered some and no optional call failed;
    an error record of a region keeps it out entirely."""
    records = [repository(A, "r1"), image(A, "r1"), finding(A, "r1")]
    records += [repository(A, "r2"), image(A, "r2")]
    records += [repository(A, "r3"), image(A, "r3")]
    records.append(
        Error(
            scan_id="s",
            account_id=A,
            region="r2",
            operation="DescribeImageScanFindings",
            error_code="AccessDeniedException",
            message="no",
            optional=True,
        )
    )
    counts = {"r1": ONE, "r2": ONE, "r3": ONE}
    marked = deletions(records, summary("complete", {A: counts}))
    assert ("scan_findings", A, "r1") in marked
    assert ("scan_findings", A, "r2") not in marked  # its findings were not all collected
    assert ("scan_findings", A, "r3") in marked  # collected: none there any more
    assert ("images", A, "r2") in marked
    assert not any(t == "image_manifests" for t, _, _ in marked)  # not collected at all
