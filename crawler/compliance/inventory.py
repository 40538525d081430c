"""What the checks need of a scan, folded from its records as they stream past.

Memory stays bounded by the number of repositories, not images: per repository its record,
counters with a few example images each, and the two images the vulnerability check names (the
one tagged `latest` and the most recently pushed one); per account-region its registry record.
Image records are never kept; the lifecycle check keeps a few fields of each image of a
repository with a lifecycle policy (crawler.lifecycle.report.Holdings).

An image's scan result is read as `crawler.compliance.scans` says, whichever call gave it; a
missing one means "never scanned" only where the scan asked for it (`Inventory.results_known`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crawler.artifacts import ATTACHED_KINDS
from crawler.compliance.delivery import Delivery
from crawler.compliance.ecr_settings import (
    LifecyclePolicy,
    PullThroughCacheRule,
    ScanningConfiguration,
    SigningConfiguration,
    decode,
)
from crawler.compliance.rules import RANK, at_least
from crawler.compliance.scans import outcome, scannable, severity_counts
from crawler.compliance.tally import Tally
from crawler.config import Compliance
from crawler.lifecycle.report import Holdings
from crawler.media_types import INDEX_TYPES
from crawler.records import (
    Error,
    Image,
    ImageManifest,
    Registry,
    Repository,
    RepositoryCreationTemplate,
    ScanRecord,
    ScanSummary,
)

# The error records that say an image's scan result may be missing for want of asking: the
# call that reads it failed in the repository, or (in the region) the call the crawler makes
# only when it collects scan results.
SCAN_RESULT_CALL = "DescribeImageScanFindings"
SCAN_RESULTS_ON_CALL = "BatchGetRepositoryScanningConfiguration"
TEMPLATES_CALL = "DescribeRepositoryCreationTemplates"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The kinds of image vulnerable-current-image looks at; None: a record saved before kinds.
CURRENT_KINDS = frozenset({"container_image", "image_index", None})

Unit = tuple[str, str]
"""(account_id, region)"""
RepoKey = tuple[str, str, str]
"""(account_id, region, repository_name)"""


@dataclass
class ImageRef:
    """The little the checks keep of one image."""

    digest: str
    uri: str
    tags: list[str]
    pushed_at: datetime | None
    is_index: bool
    counts: dict[str, int] | None
    """Severity counts of its latest completed scan; None when it has none."""
    no_result: bool = False
    """A scanner reads it and its record has no scan status (never scanned, or not asked)."""

    @classmethod
    def of(
        cls, image: Image, is_index: bool, counts: dict[str, int] | None, no_result: bool
    ) -> ImageRef:
        return cls(
            digest=image.image_digest,
            uri=image.image_uri,
            tags=image.image_tags,
            pushed_at=image.image_pushed_at,
            is_index=is_index,
            counts=counts,
            no_result=no_result,
        )

    def order(self) -> tuple[datetime, bool, str]:
        """Newest push first; on a tie (pushes in the same second), a tagged image wins."""
        return (self.pushed_at or EPOCH, bool(self.tags), self.digest)


@dataclass
class RepoState:
    key: RepoKey
    repository: Repository | None = None
    lifecycle: LifecyclePolicy | None = None
    images: int = 0
    vulnerable: Tally = field(default_factory=Tally)
    by_worst: Counter[str] = field(default_factory=Counter)
    """Vulnerable images by the worst severity their scan found."""
    latest: ImageRef | None = None
    newest: ImageRef | None = None
    children_known: bool = False
    """Manifests were read: each image says which indexes list it."""
    child_counts: dict[str, Counter[str]] = field(default_factory=dict)
    """Per index digest, the summed severity counts of its vulnerable children."""
    unscanned_parents: set[str] = field(default_factory=set)
    """The indexes that list a child without a scan result."""
    has_index: bool = False
    attestations: set[str] = field(default_factory=set)
    no_result: Tally = field(default_factory=Tally)
    """Images a scanner reads whose record has no scan status: never scanned where the scan
    asked (`Inventory.results_known`), else not known."""
    scan_failed: Tally = field(default_factory=Tally)
    failed_statuses: Counter[str] = field(default_factory=Counter)
    expired: Tally = field(default_factory=Tally)
    """Images Inspector no longer rescans (SCAN_ELIGIBILITY_EXPIRED)."""
    not_pulled: Tally = field(default_factory=Tally)
    untagged_old: Tally = field(default_factory=Tally)
    untagged_unsure: Tally = field(default_factory=Tally)
    """Old untagged images that may be children of an index (manifests not collected)."""
    delivery: Delivery = field(default_factory=Delivery)
    """How its images are signed and replicated."""


@dataclass
class UnitState:
    registry: Registry | None = None
    scanning: ScanningConfiguration | None = None
    cache_rules: list[PullThroughCacheRule] | None = None
    signing: SigningConfiguration | None = None
    templates: list[RepositoryCreationTemplate] = field(default_factory=list)
    manifests_read: bool = False
    host: str | None = None
    registry_id: str | None = None

    @property
    def clair_basic(self) -> bool:
        """The registry scans with Clair-based basic scanning, whose results DescribeImages
        carries (no other scanning does); False when that is not known."""
        version = self.registry.basic_scan_type_version if self.registry else None
        scan_type = self.scanning.scan_type if self.scanning else None
        return version == "CLAIR" and scan_type == "BASIC"


def worst(counts: dict[str, int] | Counter[str] | None) -> str | None:
    """The most severe of the counted severities AWS uses (UNDEFINED, UNTRIAGED rank none)."""
    ranked = [s for s, n in (counts or {}).items() if n and s in RANK]
    return max(ranked, key=RANK.__getitem__) if ranked else None


class Inventory:
    """Folds records into per-repository and per-account-region state; `observe` each record
    in stream order. Thresholds come from the config, ages are measured at `as_of`."""

    def __init__(self, settings: Compliance, as_of: datetime) -> None:
        self.threshold = settings.vulnerability_severity
        self.as_of = as_of
        self.not_pulled_before = as_of - timedelta(days=settings.not_pulled_days)
        self.untagged_before = as_of - timedelta(days=settings.untagged_days)
        self.repos: dict[RepoKey, RepoState] = {}
        self.units: dict[Unit, UnitState] = {}
        self.accounts: set[str] = set()
        # The account-regions whose scan asked for every image's scan result, and the
        # repositories where asking failed.
        self.results_asked: set[Unit] = set()
        self.scan_errors: set[RepoKey] = set()
        # The account-regions whose repository creation templates could not be read.
        self.template_errors: set[Unit] = set()
        self.scan_id: str | None = None
        self.summary: ScanSummary | None = None
        # The images of repositories with a lifecycle policy, for the lifecycle evaluator.
        self.lifecycle = Holdings(only_with_policy=True)

    def repo(self, account: str, region: str, name: str) -> RepoState:
        key = (account, region, name)
        state = self.repos.get(key)
        if state is None:
            state = self.repos[key] = RepoState(key)
        return state

    def unit(self, account: str, region: str) -> UnitState:
        self.accounts.add(account)
        return self.units.setdefault((account, region), UnitState())

    def repositories(self) -> Iterator[RepoState]:
        """Every repository a record named (its own, or its images'), in name order."""
        for key in sorted(self.repos):
            yield self.repos[key]

    def described(self) -> Iterator[tuple[RepoState, Repository]]:
        """The repositories whose own record the scan holds, with it, in name order."""
        for repo in self.repositories():
            if repo.repository is not None:
                yield repo, repo.repository

    def registries(self) -> Iterator[tuple[Unit, UnitState]]:
        """Every account-region, in order."""
        for unit in sorted(self.units):
            yield unit, self.units[unit]

    def results_known(self, repo: RepoState) -> bool:
        """Whether an image of the repository without a scan status was never scanned (rather
        than not asked): under Clair-based basic scanning DescribeImages carries every result;
        otherwise the scan must have collected scan results in the account-region (its
        repositories carry their scanning configuration, which only then is read) with no
        DescribeImageScanFindings failure in the repository."""
        unit = self.units.get(repo.key[:2])
        if unit is not None and unit.clair_basic:
            return True
        return repo.key[:2] in self.results_asked and repo.key not in self.scan_errors

    def templates(self, unit: Unit) -> list[RepositoryCreationTemplate] | None:
        """The registry's repository creation templates; None when not known: they are read
        with the registry record (collect.registry), and the reading did not fail."""
        state = self.units.get(unit)
        if state is None or unit in self.template_errors:
            return None
        return state.templates if state.registry is not None or state.templates else None

    def observe(self, record: ScanRecord) -> None:
        self.scan_id = self.scan_id or record.scan_id
        self.lifecycle.observe(record)
        if isinstance(record, Image):
            self._image(record)
        elif isinstance(record, Repository):
            self._repository(record)
        elif isinstance(record, ImageManifest):
            self._manifest(record)
        elif isinstance(record, Registry):
            self._registry(record)
        elif isinstance(record, RepositoryCreationTemplate):
            self.unit(record.account_id, record.region).templates.append(record)
        elif isinstance(record, Error):
            self._error(record)
        elif isinstance(record, ScanSummary):
            self.summary = record
            self.accounts.update(record.accounts)
            if record.account_id:
                self.accounts.add(record.account_id)

    def _repository(self, record: Repository) -> None:
        unit = self.unit(record.account_id, record.region)
        unit.registry_id = unit.registry_id or record.registry_id
        if record.repository_uri and unit.host is None:
            unit.host = record.repository_uri.split("/", 1)[0]
        repo = self.repo(record.account_id, record.region, record.repository_name)
        repo.repository = record
        repo.lifecycle = decode(record.lifecycle_policy, LifecyclePolicy)
        if record.scanning_configuration is not None:
            self.results_asked.add((record.account_id, record.region))

    def _error(self, record: Error) -> None:
        # Sets, not states: an error alone must not add a repository or region to judge.
        if record.operation == SCAN_RESULT_CALL and record.repository_name:
            self.scan_errors.add((record.account_id, record.region, record.repository_name))
        elif record.operation == SCAN_RESULTS_ON_CALL:
            self.results_asked.add((record.account_id, record.region))
        elif record.operation == TEMPLATES_CALL:
            self.template_errors.add((record.account_id, record.region))

    def _manifest(self, record: ImageManifest) -> None:
        self.unit(record.account_id, record.region).manifests_read = True
        attested = {c.digest for c in record.children or () if c.attestation and c.digest}
        if attested:
            repo = self.repo(record.account_id, record.region, record.repository_name)
            repo.attestations |= attested

    def _registry(self, record: Registry) -> None:
        unit = self.unit(record.account_id, record.region)
        unit.registry = record
        unit.registry_id = record.registry_id
        unit.scanning = decode(record.scanning_configuration, ScanningConfiguration)
        unit.cache_rules = decode(record.pull_through_cache_rules, list[PullThroughCacheRule])
        unit.signing = decode(record.signing_configuration, SigningConfiguration)

    def _image(self, image: Image) -> None:
        unit = self.unit(image.account_id, image.region)
        unit.registry_id = unit.registry_id or image.registry_id
        if unit.host is None:
            unit.host = image.image_uri.split("/", 1)[0]
        repo = self.repo(image.account_id, image.region, image.repository_name)
        repo.images += 1
        if image.index_digests is not None:
            repo.children_known = True
            unit.manifests_read = True
        is_index = image.image_manifest_media_type in INDEX_TYPES
        repo.has_index = repo.has_index or is_index
        archived = image.image_status == "ARCHIVED"
        # Signatures, SBOMs and attestations follow their subject (an OCI referrer's, a cosign
        # tag's, an index's): not images of their own, never garbage.
        attached = (
            image.subject_manifest_digest is not None
            or image.subject_digest is not None
            or image.artifact_kind in ATTACHED_KINDS
            or image.image_digest in repo.attestations
        )
        repo.delivery.replication(image)
        if archived or attached:
            return
        repo.delivery.signing(image, child=bool(image.index_digests))
        # Only what a scanner reads has a result, in every scanning mode (compliance.scans).
        scanned = scannable(image)
        counts = severity_counts(image) if scanned else None
        no_result = scanned and outcome(image) == "none"
        # The image deployed next is a container image (or an index of them), not a chart.
        if image.artifact_kind in CURRENT_KINDS:
            self._current(repo, image, ImageRef.of(image, is_index, counts, no_result))
        if scanned:
            self._scan_result(repo, image, counts)
        self._age(repo, image)

    def _vulnerabilities(
        self, repo: RepoState, image: Image, counts: dict[str, int] | None
    ) -> None:
        worst_found = worst(counts)
        if worst_found is None or not at_least(worst_found, self.threshold):
            return
        repo.vulnerable.add(image)
        repo.by_worst[worst_found] += 1
        for parent in image.index_digests or ():
            repo.child_counts.setdefault(parent, Counter()).update(counts or {})

    @staticmethod
    def _current(repo: RepoState, image: Image, ref: ImageRef) -> None:
        if "latest" in image.image_tags:
            repo.latest = ref
        if not image.index_digests and (repo.newest is None or ref.order() > repo.newest.order()):
            repo.newest = ref

    def _scan_result(self, repo: RepoState, image: Image, counts: dict[str, int] | None) -> None:
        result = outcome(image)
        if result == "none":
            repo.no_result.add(image)
            repo.unscanned_parents.update(image.index_digests or ())
        elif result == "failed" and image.image_scan_status is not None:
            repo.scan_failed.add(image)
            repo.failed_statuses[image.image_scan_status.status or ""] += 1
        elif result == "expired":
            repo.expired.add(image)
        self._vulnerabilities(repo, image, counts)

    def _age(self, repo: RepoState, image: Image) -> None:
        active = max(
            (t for t in (image.last_recorded_pull_time, image.image_pushed_at) if t),
            default=None,
        )
        if active is not None and active < self.not_pulled_before:
            repo.not_pulled.add(image)
        pushed = image.image_pushed_at
        if not image.image_tags and pushed is not None and pushed < self.untagged_before:
            if image.index_digests is None:
                repo.untagged_unsure.add(image)
            elif not image.index_digests:
                repo.untagged_old.add(image)
