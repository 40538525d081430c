"""The lifecycle policy evaluator, as the ECR User Guide describes it: which images of one
repository each rule would expire or transition to the archive storage class, at a moment.

    every rule identifies the images its storage class and tags select, and marks those its
    count selects (over all it identifies, as if nothing were expired yet)
      -> in priority order, an image keeps the mark of the first rule that identified it:
         a rule never acts on an image a higher-priority rule identified
      -> a child of an image index keeps its mark only if every index listing it goes too
      -> an OCI referrer (signature, SBOM) follows its subject's action

docs/lifecycle.md cites the sentence behind each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crawler.lifecycle.policy import ActionType, Policy, Rule, matches
from crawler.records import Image

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ImageStatus -> the storage class a rule selects; ACTIVATING (being restored) is in neither.
STORAGE = {"ACTIVE": "standard", "ARCHIVED": "archive"}


@dataclass(frozen=True, slots=True)
class Held:
    """What the evaluator reads of one image: a few fields of its record."""

    digest: str
    uri: str
    tags: tuple[str, ...]
    size: int
    pushed_at: datetime | None
    pulled_at: datetime | None
    status: str
    archived_at: datetime | None
    activated_at: datetime | None
    subject: str | None
    """subjectManifestDigest: an OCI referrer, which ECR expires or archives with its subject."""
    parents: tuple[str, ...]
    """The image indexes in the repository that list it."""
    is_index: bool
    kind: str | None
    in_use_count: int | None
    last_in_use_at: datetime | None

    @classmethod
    def of(cls, image: Image, is_index: bool) -> Held:
        return cls(
            digest=image.image_digest,
            uri=image.image_uri,
            tags=tuple(image.image_tags),
            size=image.image_size_in_bytes or 0,
            pushed_at=image.image_pushed_at,
            pulled_at=image.last_recorded_pull_time,
            # A record saved before image_status: DescribeImages gave ACTIVE images only.
            status=image.image_status or "ACTIVE",
            archived_at=image.last_archived_at,
            activated_at=image.last_activated_at,
            subject=image.subject_manifest_digest,
            parents=tuple(image.index_digests or ()),
            is_index=is_index,
            kind=image.artifact_kind,
            in_use_count=image.in_use_count,
            last_in_use_at=image.last_in_use_at,
        )

    @property
    def storage(self) -> str | None:
        return STORAGE.get(self.status)

    @property
    def since(self) -> datetime:
        """When it entered standard storage: its push, or its last restore from the archive."""
        return self.activated_at or self.pushed_at or EPOCH

    @property
    def last_pull(self) -> datetime:
        """sinceImagePulled's clock: the last pull, else the push; a restore not pulled since
        counts from the restore."""
        pulled = self.pulled_at
        if self.activated_at is not None and (pulled is None or pulled < self.activated_at):
            return self.activated_at
        return pulled or self.pushed_at or EPOCH


@dataclass(frozen=True, slots=True)
class Action:
    """What the policy would do to one image, and which rule does it."""

    image: Held
    type: ActionType
    rule: int
    """The rulePriority of the rule that decides (the subject's, for a referrer)."""
    follows: str | None = None
    """The subject digest a referrer follows; None when a rule selected the image itself."""


def identifies(rule: Rule, image: Held) -> bool:
    """Whether the rule's storage class and tag requirements select the image."""
    if image.storage != rule.storage_class:
        return False
    if rule.tag_status == "untagged":
        return not image.tags
    if rule.tag_status == "any":
        return True
    if not image.tags:
        return False
    if rule.tag_prefixes:
        return all(any(t.startswith(p) for t in image.tags) for p in rule.tag_prefixes)
    return all(any(matches(p, t) for t in image.tags) for p in rule.tag_patterns)


def order(image: Held) -> tuple[datetime, str]:
    """Oldest first: by push (or restore), for the archive by transition; digest on ties."""
    when = (image.archived_at or EPOCH) if image.storage == "archive" else image.since
    return when, image.digest


def marks(rule: Rule, identified: Sequence[Held], as_of: datetime) -> list[Held]:
    """The images of `identified` that the rule's count selects."""
    if rule.count_type == "imageCountMoreThan":
        oldest_first = sorted(identified, key=order)
        return oldest_first[: max(0, len(oldest_first) - rule.count_number)]
    cutoff = as_of - timedelta(days=rule.count_number)
    if rule.count_type == "sinceImagePushed":
        return [i for i in identified if i.since < cutoff]
    if rule.count_type == "sinceImagePulled":
        return [i for i in identified if i.last_pull < cutoff]
    # sinceImageTransitioned: an archived image without last_archived_at is not selected.
    return [i for i in identified if i.archived_at is not None and i.archived_at < cutoff]


def evaluate(policy: Policy, images: Iterable[Held], as_of: datetime) -> list[Action]:
    """What the policy would do to the repository's `images` at `as_of`, oldest first."""
    held = list(images)
    ruled = [i for i in held if i.subject is None and i.storage is not None]
    identified_before: set[str] = set()
    chosen: dict[str, Action] = {}
    for rule in policy.rules:
        identified = [i for i in ruled if identifies(rule, i)]
        for image in marks(rule, identified, as_of):
            if image.digest not in identified_before:
                chosen[image.digest] = Action(image, rule.action, rule.priority)
        identified_before.update(i.digest for i in identified)
    _keep_listed_children(chosen)
    _follow_subjects(chosen, held)
    return sorted(chosen.values(), key=lambda a: order(a.image))


def _keep_listed_children(chosen: dict[str, Action]) -> None:
    """A child of an image index is not expired or archived while an index listing it stays,
    nor expired while one is only archived (a restored index needs its children)."""
    changed = True
    while changed:
        changed = False
        for digest, action in list(chosen.items()):
            parents = [chosen.get(p) for p in action.image.parents]
            if any(p is None or (action.type == "expire" and p.type != "expire") for p in parents):
                del chosen[digest]
                changed = True


def _follow_subjects(chosen: dict[str, Action], held: list[Held]) -> None:
    """Referrers go the way of their subject (a signature of an SBOM, of its SBOM's)."""
    waiting = [i for i in held if i.subject is not None and i.storage is not None]
    changed = True
    while changed:
        changed = False
        for image in waiting:
            subject = chosen.get(image.subject or "")
            if subject is not None and image.digest not in chosen:
                chosen[image.digest] = Action(image, subject.type, subject.rule, image.subject)
                changed = True
