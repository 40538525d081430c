"""The rates a scan learned, kept in the cache directory for the next scan, with their age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.aws.rates import FILE, Learned, RateBook, load_book, read_rates, save_book
from crawler.config import RateLimit

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def learned(rate: float, hours_ago: float, found: bool = True) -> Learned:
    return Learned(
        "e", "us-east-1", "describe_images", rate, found, NOW - timedelta(hours=hours_ago)
    )


def test_what_a_scan_learned_starts_the_next(tmp_path: Path) -> None:
    """A quota found in one scan is where the next scan's account-regions start, just under
    it and without slow start."""
    policy = RateLimit()
    book = RateBook(policy)
    limiter = book.limiter("e", "us-east-1", "describe_images")
    limiter._listener(6.0, 0.0)  # type: ignore[misc]
    save_book(book, policy, tmp_path)
    nxt = load_book(policy, tmp_path).limiter("e", "us-east-1", "describe_images")
    assert nxt.rate == pytest.approx(6.0, rel=0.05)
    assert not nxt.learning


def test_a_rate_reached_without_throttles_is_kept_as_such(tmp_path: Path) -> None:
    """A rate reached with no throttle at all is a starting point: the next scan doubles from
    it; rates never above the initial one are not kept."""
    policy = RateLimit(initial_rate=20)
    book = RateBook(policy)
    fast = book.limiter("e", "r", "describe_image_scan_findings")
    for i in range(400):
        fast.succeeded(i / 400, i / 400 + 0.02)
    book.limiter("e", "r", "get_account_setting").succeeded(0.0, 0.02)
    save_book(book, policy, tmp_path)
    kept = read_rates(tmp_path)
    assert [(r.operation, r.found) for r in kept] == [("describe_image_scan_findings", False)]
    nxt = load_book(policy, tmp_path).limiter("e", "r", "describe_image_scan_findings")
    assert nxt.rate > 200
    assert nxt.learning


@pytest.mark.parametrize(
    ("hours", "rate", "found"),
    [(0, 2.0, True), (24, 6.32, True), (48, 11.25, False), (24 * 30, 20.0, False)],
)
def test_remembered_rates_decay_back_to_the_default(hours: float, rate: float, found: bool) -> None:
    """A remembered quota moves halfway (geometrically) back to initial_rate every
    prior_half_life_hours; older than one half-life, it is a starting point doubled from."""
    policy = RateLimit(initial_rate=20, prior_half_life_hours=24)
    book = RateBook(policy, [learned(2.0, hours)], now=NOW)
    start = book.start(("e", "us-east-1", "describe_images"))
    assert start is not None
    assert start.rate == pytest.approx(rate, rel=0.02)
    assert start.found is found


def test_an_unreadable_file_is_a_cold_start(tmp_path: Path) -> None:
    """A damaged rates file is ignored (and replaced by the next save): rates are only a head
    start, never a reason to fail a scan."""
    (tmp_path / FILE).write_text("{not json")
    book = load_book(RateLimit(), tmp_path)
    assert book.start(("e", "r", "op")) is None
    save_book(book, RateLimit(), tmp_path)
    assert read_rates(tmp_path) == []


def test_rates_not_seen_again_are_kept(tmp_path: Path) -> None:
    """A scan of some regions keeps what earlier scans learned of the others."""
    policy = RateLimit()
    first = RateBook(policy)
    first.limiter("e", "eu-west-1", "op")._listener(3.0, 0.0)  # type: ignore[misc]
    save_book(first, policy, tmp_path)
    second = RateBook(policy)
    second.limiter("e", "us-east-1", "op")._listener(5.0, 0.0)  # type: ignore[misc]
    save_book(second, policy, tmp_path)
    regions = {r.region for r in read_rates(tmp_path)}
    assert regions == {"eu-west-1", "us-east-1"}


def test_without_a_prior_nothing_is_read_or_kept(tmp_path: Path) -> None:
    """rate_limit.prior: false leaves the cache directory alone and every account-region
    learns alone."""
    policy = RateLimit(prior=False)
    (tmp_path / FILE).write_text("{not json")
    book = load_book(policy, tmp_path)
    assert book.limiter("e", "r", "op")._listener is None
    assert book.limiter("e", "r", "op").rate == policy.initial_rate
    save_book(book, policy, tmp_path)
    assert (tmp_path / FILE).read_text() == "{not json"
