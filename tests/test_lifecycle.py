"""The lifecycle dry run over saved scans: every example policy of the ECR User Guide
("Examples of lifecycle policies") on an inventory built to match it, index children and
referrers, the danger list, and cost figures worked by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from crawler.config import Lifecycle
from crawler.lifecycle.command import run_saved
from crawler.lifecycle.report import DryRun
from crawler.media_types import OCI_INDEX, OCI_MANIFEST
from crawler.records import Image, Repository, ScanRecord, ScanSummary
from crawler.sinks.jsonl import JsonlSink
from crawler.sinks.sqlite import SqliteSink

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT, REGION, REPO = "123456789012", "us-east-1", "app"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
GIB = 2**30


def days_ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def image(name: str, tags: Sequence[str] = (), pushed: float = 1, **fields: Any) -> Image:
    """An image of REPO whose digest spells `name`, pushed `pushed` days before AS_OF."""
    digest = "sha256:" + name.encode().hex().ljust(64, "0")
    fields.setdefault("image_manifest_media_type", OCI_MANIFEST)
    fields.setdefault("image_status", "ACTIVE")
    fields.setdefault("repository_name", REPO)
    return Image(
        scan_id="s-1",
        account_id=ACCOUNT,
        region=REGION,
        registry_id=ACCOUNT,
        image_digest=digest,
        image_tags=sorted(tags),
        image_uri=f"{HOST}/{fields['repository_name']}@{digest}",
        image_pushed_at=days_ago(pushed),
        **fields,
    )


def repository(name: str = REPO, policy: dict[str, Any] | None = None) -> Repository:
    return Repository(
        scan_id="s-1",
        account_id=ACCOUNT,
        region=REGION,
        registry_id=ACCOUNT,
        repository_name=name,
        lifecycle_policy=policy,
    )


def save(path: Path, records: Sequence[ScanRecord]) -> Path:
    """The records as a finished scan started at AS_OF, written by the sink the suffix names."""
    summary = ScanSummary(
        scan_id="s-1",
        account_id=ACCOUNT,
        started_at=AS_OF,
        finished_at=AS_OF + timedelta(minutes=1),
        status="complete",
        regions={},
        regions_skipped=[],
    )

    async def write() -> None:
        sink = SqliteSink(path) if path.suffix == ".db" else JsonlSink(path)
        try:
            await sink.write([*records, summary])
        finally:
            await sink.aclose()

    anyio.run(write)
    return path


def rule(priority: int, action: str = "expire", **selection: Any) -> dict[str, Any]:
    target = {"targetStorageClass": "archive"} if action == "transition" else {}
    return {
        "rulePriority": priority,
        "description": f"Rule {priority}",
        "selection": selection,
        "action": {"type": action, **target},
    }


def dry(
    tmp_path: Path,
    images: Sequence[Image],
    rules: list[dict[str, Any]],
    settings: Lifecycle | None = None,
) -> DryRun:
    """The dry run of `rules` attached to REPO, holding `images`, saved as JSON lines."""
    path = save(tmp_path / "scan.jsonl", [repository(policy={"rules": rules}), *images])
    return run_saved(str(path), settings or Lifecycle())


def acted(run: DryRun, action: str = "expire") -> set[str]:
    """The images (by the name their digest spells) the run would act on this way."""
    return {
        bytes.fromhex(a.image.digest[7:].rstrip("0")).decode()
        for o in run.outcomes
        for a in o.actions
        if a.type == action
    }


# Each example of the User Guide's "Examples of lifecycle policies", its repository contents
# as the guide lists them (or, where it lists none, as its text describes), and its result.


def test_filtering_on_image_age(tmp_path: Path) -> None:
    """prod* images older than 14 days expire; younger ones and other tags stay."""
    images = [image("A", ["prod-1"], 20), image("B", ["prod-2"], 10), image("C", ["dev-1"], 20)]
    rules = [
        rule(1, tagStatus="tagged", tagPatternList=["prod*"], countType="sinceImagePushed",
             countUnit="days", countNumber=14),
    ]  # fmt: skip
    assert acted(dry(tmp_path, images, rules)) == {"A"}


def test_filtering_on_last_pulled_time(tmp_path: Path) -> None:
    """Images not pulled in 90 days move to the archive: a never-pulled image counts from its
    push, a restored one not pulled since from its restore."""
    images = [
        image("A", ["a"], 300, last_recorded_pull_time=days_ago(100)),
        image("B", [], 120),
        image("C", ["c"], 300, last_recorded_pull_time=days_ago(10)),
        image("D", ["d"], 300, last_recorded_pull_time=days_ago(200),
              last_activated_at=days_ago(30)),
        image("E", ["e"], 30),
    ]  # fmt: skip
    rules = [
        rule(1, "transition", tagStatus="any", countType="sinceImagePulled", countUnit="days",
             countNumber=90),
    ]  # fmt: skip
    run = dry(tmp_path, images, rules)
    assert acted(run, "transition") == {"A", "B"}
    assert acted(run) == set()


def test_filtering_on_archive_transition_time(tmp_path: Path) -> None:
    """Only archived images, archived more than 365 days ago, expire."""
    images = [
        image("A", ["a"], 900, image_status="ARCHIVED", last_archived_at=days_ago(400)),
        image("B", ["b"], 900, image_status="ARCHIVED", last_archived_at=days_ago(100)),
        image("C", ["c"], 900),
    ]
    rules = [
        rule(1, tagStatus="any", storageClass="archive", countType="sinceImageTransitioned",
             countUnit="days", countNumber=365),
    ]  # fmt: skip
    assert acted(dry(tmp_path, images, rules)) == {"A"}


def test_filtering_on_image_count(tmp_path: Path) -> None:
    """Keep only one untagged image, expire all others: the newest stays."""
    images = [image("A", [], 3), image("B", [], 2), image("C", [], 1), image("D", ["v1"], 5)]
    rules = [rule(1, tagStatus="untagged", countType="imageCountMoreThan", countNumber=1)]
    assert acted(dry(tmp_path, images, rules)) == {"A", "B"}


MULTIPLE_RULES = [image("A", ["beta-1", "prod-1"], 10), image("B", ["beta-2", "prod-2"], 9),
                  image("C", ["beta-3"], 8)]  # fmt: skip


def _count_rule(priority: int, pattern: str) -> dict[str, Any]:
    return rule(priority, tagStatus="tagged", tagPatternList=[pattern],
                countType="imageCountMoreThan", countNumber=1)  # fmt: skip


def test_multiple_rules_example_a(tmp_path: Path) -> None:
    """prod* then beta*: Image A is expired; B, seen by rule 1, is skipped by rule 2."""
    rules = [_count_rule(1, "prod*"), _count_rule(2, "beta*")]
    assert acted(dry(tmp_path, MULTIPLE_RULES, rules)) == {"A"}


def test_multiple_rules_example_b(tmp_path: Path) -> None:
    """beta* then prod*: Images A and B are expired."""
    rules = [_count_rule(1, "beta*"), _count_rule(2, "prod*")]
    assert acted(dry(tmp_path, MULTIPLE_RULES, rules)) == {"A", "B"}


def test_multiple_tags_in_a_single_rule_example_a(tmp_path: Path) -> None:
    """alpha* and beta* older than five days: only Image C carries both and is old enough."""
    images = [
        image("A", ["alpha-1"], 12), image("B", ["beta-1"], 11),
        image("C", ["alpha-2", "beta-2"], 10), image("D", ["alpha-3"], 4),
        image("E", ["beta-3"], 3), image("F", ["alpha-4", "beta-4"], 2),
    ]  # fmt: skip
    rules = [
        rule(1, tagStatus="tagged", tagPatternList=["alpha*", "beta*"],
             countType="sinceImagePushed", countNumber=5, countUnit="days"),
    ]  # fmt: skip
    assert acted(dry(tmp_path, images, rules)) == {"C"}


def test_multiple_tags_in_a_single_rule_example_b(tmp_path: Path) -> None:
    """Tags are not exclusive: all three images match alpha* and beta*; A and B expire."""
    images = [
        image("A", ["alpha-1", "beta-1", "gamma-1"], 10),
        image("B", ["alpha-2", "beta-2"], 9),
        image("C", ["alpha-3", "beta-3", "gamma-2"], 8),
    ]
    rules = [
        rule(1, tagStatus="tagged", tagPatternList=["alpha*", "beta*"],
             countType="imageCountMoreThan", countNumber=1),
    ]  # fmt: skip
    assert acted(dry(tmp_path, images, rules)) == {"A", "B"}


def test_tag_prefix_list_matches_like_the_older_examples(tmp_path: Path) -> None:
    """The guide's earlier editions wrote the same examples with tagPrefixList: same result."""
    rules = [
        rule(1, tagStatus="tagged", tagPrefixList=["prod"], countType="imageCountMoreThan",
             countNumber=1),
        rule(2, tagStatus="tagged", tagPrefixList=["beta"], countType="imageCountMoreThan",
             countNumber=1),
    ]  # fmt: skip
    assert acted(dry(tmp_path, MULTIPLE_RULES, rules)) == {"A"}


def test_all_images_example_a(tmp_path: Path) -> None:
    """tagStatus any, keep one: A, B and C are expired, D (the newest) stays."""
    images = [image("A", ["alpha-1"], 4), image("B", ["beta-1"], 3), image("C", [], 2),
              image("D", ["alpha-2"], 1)]  # fmt: skip
    rules = [rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)]
    assert acted(dry(tmp_path, images, rules)) == {"A", "B", "C"}


def test_all_images_example_b(tmp_path: Path) -> None:
    """All the rule types in one policy: A, B and D are expired (E, pushed after D on the same
    day, is the newest)."""
    images = [
        image("A", ["alpha-1", "beta-1"], 4), image("B", [], 3), image("C", ["alpha-2"], 2),
        image("D", ["git hash"], 1), image("E", [], 0.99),
    ]  # fmt: skip
    rules = [
        rule(1, tagStatus="tagged", tagPatternList=["alpha*"], countType="imageCountMoreThan",
             countNumber=1),
        rule(2, tagStatus="untagged", countType="sinceImagePushed", countUnit="days",
             countNumber=1),
        rule(3, tagStatus="any", countType="imageCountMoreThan", countNumber=1),
    ]  # fmt: skip
    assert acted(dry(tmp_path, images, rules)) == {"A", "B", "D"}


def test_archiving_images_older_than_a_number_of_days(tmp_path: Path) -> None:
    """prod* images older than 30 days move to the archive, none expires."""
    images = [image("A", ["prod-1"], 45), image("B", ["prod-2"], 5), image("C", ["dev"], 45)]
    rules = [
        rule(1, "transition", tagStatus="tagged", tagPatternList=["prod*"],
             countType="sinceImagePushed", countUnit="days", countNumber=30),
    ]  # fmt: skip
    run = dry(tmp_path, images, rules)
    assert (acted(run, "transition"), acted(run)) == ({"A"}, set())


def test_combining_archive_and_expire_rules(tmp_path: Path) -> None:
    """Standard images older than 30 days are archived, archived ones older than 365 days in
    the archive expire: two `any` rules, one per storage class."""
    images = [
        image("A", ["a"], 40),
        image("B", ["b"], 10),
        image("C", ["c"], 900, image_status="ARCHIVED", last_archived_at=days_ago(500)),
        image("D", ["d"], 900, image_status="ARCHIVED", last_archived_at=days_ago(200)),
    ]
    rules = [
        rule(1, "transition", tagStatus="any", countType="sinceImagePushed", countUnit="days",
             countNumber=30),
        rule(2, tagStatus="any", storageClass="archive", countType="sinceImageTransitioned",
             countUnit="days", countNumber=365),
    ]  # fmt: skip
    run = dry(tmp_path, images, rules)
    assert (acted(run, "transition"), acted(run)) == ({"A"}, {"C"})


# Children of an image index and referrers.

INDEX = image("I", ["1.0"], 10, image_manifest_media_type=OCI_INDEX, artifact_kind="image_index")


def child(name: str, index: Image = INDEX, pushed: float = 10.5) -> Image:
    return image(name, [], pushed, index_digests=[index.image_digest])


UNTAGGED = [rule(1, tagStatus="untagged", countType="sinceImagePushed", countUnit="days",
                 countNumber=7)]  # fmt: skip


def test_children_of_a_kept_index_are_not_expired(tmp_path: Path) -> None:
    """An untagged rule does not take the children of an index that stays."""
    run = dry(tmp_path, [INDEX, child("amd"), child("arm"), image("X", [], 30)], UNTAGGED)
    assert acted(run) == {"X"}


def test_children_go_when_their_index_goes(tmp_path: Path) -> None:
    """Once their index expires, the untagged rule takes its children too."""
    rules = [
        rule(1, tagStatus="tagged", tagPatternList=["1.*"], countType="sinceImagePushed",
             countUnit="days", countNumber=7),
        *[{**r, "rulePriority": 2} for r in UNTAGGED],
    ]  # fmt: skip
    assert acted(dry(tmp_path, [INDEX, child("amd"), child("arm")], rules)) == {"I", "amd", "arm"}


def test_children_of_an_archived_index_are_not_expired(tmp_path: Path) -> None:
    """An index moving to the archive keeps its children (a restore needs them)."""
    rules = [
        rule(1, "transition", tagStatus="tagged", tagPatternList=["1.*"],
             countType="sinceImagePushed", countUnit="days", countNumber=7),
        *[{**r, "rulePriority": 2} for r in UNTAGGED],
    ]  # fmt: skip
    run = dry(tmp_path, [INDEX, child("amd")], rules)
    assert (acted(run, "transition"), acted(run)) == ({"I"}, set())


def test_referrers_follow_their_subject_and_cosign_tags_do_not(tmp_path: Path) -> None:
    """An OCI referrer (subjectManifestDigest) goes with its subject, whatever the rules say
    of it; a cosign signature by tag is an ordinary tagged image to ECR."""
    subject = image("S", ["v1"], 20)
    sbom = image("sbom", [], 1, subject_manifest_digest=subject.image_digest)
    cosign = image("sig", ["sha256-abc.sig"], 20, artifact_kind="signature")
    rules = [
        rule(1, tagStatus="tagged", tagPatternList=["v*"], countType="sinceImagePushed",
             countUnit="days", countNumber=7),
    ]  # fmt: skip
    run = dry(tmp_path, [subject, sbom, cosign], rules)
    assert acted(run) == {"S", "sbom"}
    follower = next(a for a in run.outcomes[0].actions if a.follows)
    assert (follower.follows, follower.rule) == (subject.image_digest, 1)


# The danger list and the cost.


def test_danger_list_names_in_use_protected_and_newest(tmp_path: Path) -> None:
    """An image running (now, or within in_use_days), one with a protected tag, and the newest
    image are dangers; an index is in use when a child of it runs."""
    index = image("I", ["2.0"], 20, image_manifest_media_type=OCI_INDEX)
    images = [
        image("run", ["1.0"], 30, in_use_count=3),
        image("ran", ["1.1"], 29, in_use_count=0, last_in_use_at=days_ago(2)),
        image("old", ["1.2"], 28, in_use_count=0, last_in_use_at=days_ago(30)),
        image("rel", ["release-7"], 27),
        index,
        image("kid", [], 20, index_digests=[index.image_digest], in_use_count=1),
        image("new", ["1.3"], 1.5),
    ]
    rules = [rule(1, tagStatus="any", countType="sinceImagePushed", countUnit="days",
                  countNumber=1)]  # fmt: skip
    run = dry(tmp_path, images, rules)
    reasons = {
        a.action.image.tags[0] if a.action.image.tags else "kid": a.reasons
        for a in run.outcomes[0].dangers
    }
    assert reasons == {
        "1.0": ("in use",),
        "1.1": ("in use",),
        "release-7": ("protected tag release-7",),
        "2.0": ("in use",),
        "kid": ("in use",),
        "1.3": ("newest image",),
    }


def test_cost_figures_checked_by_hand(tmp_path: Path) -> None:
    """3 GiB + 1 GiB expired at $0.10, 10 GiB archived at $0.10 - $0.07, 5 GiB expired from
    the archive at $0.07: 0.40 + 0.30 + 0.35 = $1.05 a month."""
    images = [
        image("A", ["old-1"], 40, image_size_in_bytes=3 * GIB),
        image("B", ["old-2"], 40, image_size_in_bytes=1 * GIB),
        image("C", ["arc-1"], 40, image_size_in_bytes=10 * GIB),
        image("D", ["z"], 900, image_size_in_bytes=5 * GIB, image_status="ARCHIVED",
              last_archived_at=days_ago(100)),
        image("E", ["keep"], 1, image_size_in_bytes=7 * GIB),
    ]  # fmt: skip
    rules = [
        rule(1, tagStatus="tagged", tagPatternList=["old-*"], countType="sinceImagePushed",
             countUnit="days", countNumber=30),
        rule(2, "transition", tagStatus="tagged", tagPatternList=["arc-*"],
             countType="sinceImagePushed", countUnit="days", countNumber=30),
        rule(3, tagStatus="any", storageClass="archive", countType="sinceImageTransitioned",
             countUnit="days", countNumber=90),
    ]  # fmt: skip
    prices = Lifecycle(price_per_gb_month=0.10, archive_price_per_gb_month=0.07)
    totals = dry(tmp_path, images, rules, prices).totals()
    assert totals["expire_bytes"] == 9 * GIB
    assert totals["archive_bytes"] == 10 * GIB
    assert totals["monthly_savings"] == pytest.approx(1.05)
