"""Scenario files: the YAML that defines a synthetic registry and how the simulator behaves.

Every field is checked once, here, so the request path never validates settings. See
bench/README.md for the format; bench/scenarios/ holds the benchmark's scenarios.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from bench.simulator.artifacts import ARTIFACTS

SCAN_STATUSES = ("COMPLETE", "FAILED", "IN_PROGRESS", "UNSUPPORTED_IMAGE", "NONE")
ScanMode = Literal["CLAIR", "AWS_NATIVE", "ENHANCED"]
ACCOUNT = re.compile(r"^\d{12}$")


class ScenarioError(ValueError):
    """A scenario file that cannot be used, with the reason."""


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ImageCounts(_Strict, frozen=True, kw_only=True):
    """Images per repository: a heavy-tailed draw per repository, capped, optionally rescaled
    so that the whole scenario holds about `total` images."""

    distribution: Literal["lognormal", "pareto", "fixed"] = "lognormal"
    median: float = 20.0  # lognormal: the median count
    sigma: float = 1.5  # lognormal: the spread of log(count)
    alpha: float = 1.2  # pareto: the tail index (smaller = heavier tail)
    minimum: float = 1.0  # pareto: the scale (smallest draw)
    value: int = 10  # fixed: every repository has this many
    cap: int = 10_000  # no drawn repository has more
    total: int | None = None  # rescale the draws so the scenario has about this many images
    # The first repositories of every account-region get exactly these counts (not rescaled).
    large: list[int] = msgspec.field(default_factory=list)


class Quota(_Strict, frozen=True, kw_only=True):
    """A token bucket: `rate` calls per second, `burst` calls at once (default: `rate`);
    `background`: another client of the same account-region steadily taking this many calls
    per second of it (arrivals at random, seeded; when it finds the bucket empty, its call is
    throttled and not retried)."""

    rate: float
    burst: float | None = None
    background: float = 0.0

    @property
    def capacity(self) -> float:
        return max(1.0, self.burst if self.burst is not None else self.rate)

    @property
    def available(self) -> float:
        """What the other client leaves of the rate: what a lower bound may assume."""
        return self.rate - self.background


class Latency(_Strict, frozen=True, kw_only=True):
    """Time to answer one call: base + per item returned + uniform jitter in [0, jitter)."""

    base_ms: float = 0.0
    per_item_us: float = 0.0
    jitter_ms: float = 0.0

    def seconds(self, items: int) -> float:
        """The latency without jitter: what the lower bound may assume."""
        return self.base_ms / 1e3 + items * self.per_item_us / 1e6


class Faults(_Strict, frozen=True, kw_only=True):
    """Seeded faults, as fractions of all AWS calls. `throttle_rate`: ThrottlingException
    whatever the caller's rate, as when other callers drain a shared quota."""

    server_error_rate: float = 0.0
    reset_rate: float = 0.0
    throttle_rate: float = 0.0


class Scanning(_Strict, frozen=True, kw_only=True):
    """How the registries scan images (bench/simulator/findings.py): Clair-based basic scanning
    (results in DescribeImages), AWS-native basic or enhanced (results in
    DescribeImageScanFindings only); `regions` overrides `mode` region by region."""

    mode: ScanMode = "CLAIR"
    regions: dict[str, ScanMode] = msgspec.field(default_factory=dict)


class Scenario(_Strict, frozen=True, kw_only=True):
    name: str
    seed: int = 0
    accounts: list[str] = msgspec.field(default_factory=lambda: ["111111111111"])
    regions: list[str] = msgspec.field(default_factory=lambda: ["us-east-1"])
    repositories_per_region: int = 10
    images: ImageCounts = msgspec.field(default_factory=ImageCounts)
    untagged_fraction: float = 0.2
    multi_tag_fraction: float = 0.2
    multi_arch_fraction: float = 0.1  # of the blocks of 1 + platforms images
    platforms: int = 2  # children of each multi-arch index
    archived_fraction: float = 0.0
    # Fractions of the plain images drawn as each artifact (bench/simulator/artifacts.py:
    # schema1, helm, cosign_signature, sbom, attestation, artifact_manifest, windows, zstd).
    kinds: dict[str, float] = msgspec.field(default_factory=dict)
    # Relative weights of each imageScanStatus; NONE = never scanned (fields omitted).
    scan_status: dict[str, float] = msgspec.field(
        default_factory=lambda: {"COMPLETE": 0.8, "FAILED": 0.05, "NONE": 0.15}
    )
    scanning: Scanning = msgspec.field(default_factory=Scanning)
    # Largest page the simulator returns whatever maxResults says (to force paging in tests).
    page_cap: int | None = None
    latency: Latency = msgspec.field(default_factory=Latency)
    faults: Faults = msgspec.field(default_factory=Faults)
    # Per operation name (e.g. DescribeImages) and "default"; absent = unlimited.
    quotas: dict[str, Quota] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ScenarioError(f"scenario {self.name!r}: " + "; ".join(problems))

    def quota(self, operation: str) -> Quota | None:
        return self.quotas.get(operation, self.quotas.get("default"))

    def scan_mode(self, region: str) -> ScanMode:
        return self.scanning.regions.get(region, self.scanning.mode)


def _problems(s: Scenario) -> Any:
    for account in s.accounts:
        if not ACCOUNT.match(account):
            yield f"account {account!r} is not 12 digits"
    if not s.accounts or not s.regions:
        yield "accounts and regions must not be empty"
    if len(set(s.accounts)) != len(s.accounts) or len(set(s.regions)) != len(s.regions):
        yield "accounts and regions must be unique"
    if s.repositories_per_region < len(s.images.large):
        yield "repositories_per_region is smaller than the list images.large"
    for name in ("untagged_fraction", "multi_tag_fraction", "multi_arch_fraction"):
        if not 0.0 <= getattr(s, name) <= 1.0:
            yield f"{name} must be within 0..1"
    if not 0.0 <= s.archived_fraction <= 1.0:
        yield "archived_fraction must be within 0..1"
    if not 1 <= s.platforms <= 8:
        yield "platforms must be within 1..8"
    unknown = set(s.scan_status) - set(SCAN_STATUSES)
    if unknown or sum(s.scan_status.values()) <= 0:
        yield f"scan_status needs positive weights over {', '.join(SCAN_STATUSES)}"
    unknown_regions = set(s.scanning.regions) - set(s.regions)
    if unknown_regions:
        yield f"scanning.regions names regions not in regions: {', '.join(sorted(unknown_regions))}"
    if s.page_cap is not None and s.page_cap < 1:
        yield "page_cap must be at least 1"
    yield from _quota_problems(s)


def _quota_problems(s: Scenario) -> Any:
    unknown_kinds = set(s.kinds) - set(ARTIFACTS)
    if unknown_kinds or any(f < 0 for f in s.kinds.values()) or sum(s.kinds.values()) > 1:
        yield f"kinds: fractions within 0..1 in all, of {', '.join(ARTIFACTS)}"
    for op, quota in s.quotas.items():
        if quota.rate <= 0:
            yield f"quotas.{op}.rate must be positive"
        if not 0 <= quota.background < quota.rate:
            yield f"quotas.{op}.background must be within 0 and its rate"
    faults = (s.faults.server_error_rate, s.faults.reset_rate, s.faults.throttle_rate)
    if not all(0 <= rate <= 1 for rate in faults):
        yield "fault rates must be within 0..1"


def parse_scenario(data: dict[str, Any]) -> Scenario:
    try:
        return msgspec.convert(data, Scenario)
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"scenario {data.get('name', '?')!r}: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """The scenario in a YAML file; its name defaults to the file's stem."""
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: not a mapping")
    data.setdefault("name", path.stem)
    return parse_scenario(data)


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as YAML text that `load_scenario` reads back unchanged."""
    return yaml.safe_dump(msgspec.to_builtins(scenario), sort_keys=False)
