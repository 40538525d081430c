"""The config model: frozen sections with their defaults and a docstring under every field
(`crawler.reference` turns them into README's reference). Every constrained string says, in its
metadata, what a valid value looks like, so that an error never shows a raw regex."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"


def form(description: str, pattern: str | None = None) -> msgspec.Meta:
    """What a valid value looks like, for error messages; `pattern` if a regex says it."""
    return msgspec.Meta(pattern=pattern, extra={"form": description})


# A region in the `regions` list (where "all" is the other choice).
RegionName = Annotated[
    str, form("a region name such as us-east-1, nor 'all'", pattern=REGION_PATTERN)
]
RoleArn = Annotated[
    str, form("a role ARN such as arn:aws:iam::123456789012:role/NAME", pattern=ROLE_ARN_PATTERN)
]
AccountId = Annotated[str, form("a 12-digit account id", pattern=r"^\d{12}$")]
SessionName = Annotated[
    str, form("2 to 64 letters, digits or +=,.@_-", pattern=r"^[\w+=,.@-]{2,64}$")
]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
Text = Annotated[str, msgspec.Meta(min_length=1)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Auth(_Section, frozen=True):
    role_arn: RoleArn | None = None
    """Role to assume on top of the standard credential chain; null uses the chain as is."""
    external_id: str | None = None
    """ExternalId for the role's trust policy, if it asks for one."""
    session_name: SessionName = "ecr-crawler"
    """RoleSessionName of the assumed role, shown in CloudTrail."""
    duration_seconds: Annotated[int, msgspec.Meta(ge=900, le=43200)] = 3600
    """Lifetime of each assumed-role session; they are refreshed before expiry."""


class Account(_Section, frozen=True):
    account_id: AccountId
    """The account to scan."""
    role_arn: RoleArn
    """The role to assume in it (from the base credentials, after auth.role_arn if set)."""
    external_id: str | None = None
    """ExternalId, if the role's trust policy asks for one."""
    session_name: SessionName = "ecr-crawler"
    """RoleSessionName, shown in the account's CloudTrail."""


OrganizationalUnit = Annotated[
    str,
    form(
        "an OU id such as ou-ab12-cd345678, or a root id such as r-ab12",
        pattern=r"^(ou-[0-9a-z]+-[0-9a-z]+|r-[0-9a-z]+)$",
    ),
]


class Organization(_Section, frozen=True):
    member_role_name: Annotated[
        str,
        form("a role name: 1 to 64 letters, digits or +=,.@_-/", pattern=r"^[\w+=,.@/-]{1,64}$"),
    ]
    """The role to assume in every member account (same name everywhere)."""
    ous: list[OrganizationalUnit] = msgspec.field(default_factory=list)
    """Only the accounts in these OUs (and their child OUs); empty: every account."""
    include: list[AccountId] = msgspec.field(default_factory=list)
    """Only these accounts; empty: all that were discovered."""
    exclude: list[AccountId] = msgspec.field(default_factory=list)
    """Never these accounts."""
    external_id: str | None = None
    """ExternalId for the member role, if its trust policy asks for one."""
    session_name: SessionName = "ecr-crawler"
    """RoleSessionName in each member account."""


class Concurrency(_Section, frozen=True):
    accounts: PositiveInt = 8
    """Accounts scanned at once."""
    regions: PositiveInt = 4
    """Regions scanned at once, per account."""
    repositories: PositiveInt = 32
    """Repositories whose images are listed at once, per account-region."""
    api_calls: PositiveInt = 16
    """ECR calls in flight at once, per account-region (also its connection pool size)."""
    api_calls_total: PositiveInt = 256
    """ECR calls in flight at once over the whole scan, to protect the machine."""


class Retry(_Section, frozen=True):
    max_attempts: PositiveInt = 10
    """Attempts per API call (first try included) on throttling, 5xx and network errors."""
    max_wait_seconds: PositiveFloat = 300.0
    """Give up retrying one call once this much time has passed since its first try."""
    base_delay_seconds: PositiveFloat = 0.25
    """Backoff is full jitter: random(0, min(max_delay, base_delay * 2**attempt))."""
    max_delay_seconds: PositiveFloat = 20.0
    """Longest single backoff."""


class RateLimit(_Section, frozen=True):
    adaptive: bool = True
    """Learn each operation's sustainable rate per account-region from throttling and pace
    calls to it (AWS publishes no quota for ECR's read calls)."""
    initial_rate: PositiveFloat = 20.0
    """Calls per second at the start, per account-region and operation, when nothing was
    learned yet; doubled each second until throttles that the noise does not explain."""
    beta: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.85
    """After throttles that are ours, send at this fraction of what AWS admitted."""
    increase: PositiveFloat = 0.5
    """Once a quota is found, the rate grows by at least this many calls/s each second."""
    min_rate: PositiveFloat = 0.5
    """Never pace below this many calls per second."""
    prior: bool = True
    """Start each account-region from what the scan (and the previous scan, kept in the cache
    directory) learned for the operation in that region; false: every one learns alone."""
    prior_half_life_hours: PositiveFloat = 24.0
    """A rate learned by an earlier scan moves halfway back to initial_rate in this time."""


class Timeouts(_Section, frozen=True):
    connect_seconds: PositiveFloat = 10.0
    """TCP/TLS connect timeout per call."""
    read_seconds: PositiveFloat = 60.0
    """Read timeout per call; a timed-out call is retried."""


class Collect(_Section, frozen=True):
    manifests: Literal["off", "new", "all"] = "new"
    """BatchGetImage: "new" fetches only digests not in the local cache (BatchGetImage updates
    lastRecordedPullTime on AWS), "all" every digest, "off" none."""
    referrers: bool = False
    """ListImageReferrers: signatures, SBOMs and attestations attached to each image."""
    scan_findings: Literal["off", "summary", "full"] = "summary"
    """"summary": each image's scan status and severity counts, from DescribeImages or, where
    the registry's scanning does not put them there, DescribeImageScanFindings; "full": also one
    record per finding; "off": only what DescribeImages carries, no scanning call."""
    registry: bool = False
    """A registry record per account-region (replication, scanning and signing configuration,
    registry policy, pull-through cache rules, pull-time update exclusions, account settings)
    and its repository creation templates."""
    signing: bool = False
    """DescribeImageSigningStatus for each image of a repository a managed signing rule covers:
    the image record's signing_statuses and signed."""
    inspector: bool = False
    """In registries with enhanced scanning, Amazon Inspector's bulk calls (ListCoverage,
    ListFindingAggregations, ListFindings) instead of DescribeImageScanFindings per image, and
    each image's in_use_count and last_in_use_at (ECS tasks and EKS pods running it)."""
    replication: bool = False
    """DescribeImageReplicationStatus for each image of a repository a replication rule covers:
    the image record's replication_statuses."""
    policies: bool = False
    """Lifecycle and repository policies on each repository record."""
    tags: bool = False
    """Resource tags on each repository record (ListTagsForResource)."""


class Log(_Section, frozen=True):
    format: Literal["auto", "console", "json"] = "auto"
    """auto: readable on a terminal, JSON lines otherwise."""
    level: Literal["debug", "info", "warning", "error"] = "info"
    """Only debug shows tracebacks and botocore's own logs."""


class Suppression(_Section, frozen=True):
    check: Text
    """The check id (`ecr-crawler checks --list`), or "*" for every check."""
    resource: Text
    """The repository name, image URI or ARN the finding is about; * and ? are wildcards."""
    reason: Text
    """Why the finding is accepted; every report shows it."""
    expires: Annotated[date, form("a date such as 2026-12-31")]
    """The last day it holds (YYYY-MM-DD); from the next day the finding counts again."""


class Compliance(_Section, frozen=True):
    checks: Literal["all"] | list[str] = "all"
    """The checks that `scan --checks` and `checks` run: "all", or a list of check ids."""
    skip_checks: list[str] = msgspec.field(default_factory=list)
    """Checks not to run, even with "all"."""
    vulnerability_severity: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] = "HIGH"
    """An image is vulnerable when its latest scan found something this severe or worse."""
    not_pulled_days: PositiveInt = 90
    """Report images neither pulled nor pushed for this many days (cost hygiene)."""
    untagged_days: PositiveInt = 30
    """Report untagged images pushed longer ago than this (index children and attached
    signatures or SBOMs are not garbage and never count)."""
    require_kms: list[str] = msgspec.field(default_factory=list)
    """Repository names (* and ? are wildcards) that must be encrypted with a KMS key rather
    than AES256; ["*"] for every repository."""
    trusted_accounts: list[AccountId] = msgspec.field(default_factory=list)
    """Accounts that repository and registry policies may grant access to, besides the
    scanned accounts themselves."""
    trusted_organizations: list[
        Annotated[
            str, form("an organization id such as o-a1b2c3d4e5", pattern=r"^o-[a-z0-9]{10,32}$")
        ]
    ] = msgspec.field(default_factory=list)
    """AWS Organizations ids that a policy may grant access to (condition aws:PrincipalOrgID)."""
    pull_through_upstreams: list[str] = msgspec.field(default_factory=list)
    """Upstream registries that pull-through cache rules may point to (* and ? are wildcards),
    e.g. "public.ecr.aws"; a rule to any other is a finding."""
    suppressions: list[Suppression] = msgspec.field(default_factory=list)
    """Accepted findings: each names a check, a resource, a reason and an expiry date."""


class Lifecycle(_Section, frozen=True):
    price_per_gb_month: Annotated[float, msgspec.Meta(ge=0)] = 0.10
    """Dollars per GB-month (2**30 bytes) of ECR standard storage, for the monthly savings of
    `ecr-crawler lifecycle`: AWS's public price for private repositories
    (https://aws.amazon.com/ecr/pricing/); set your region's or your contract's."""
    archive_price_per_gb_month: Annotated[float, msgspec.Meta(ge=0)] = 0.10
    """Dollars per GB-month of the ECR archive storage class: the public price of its first
    150 TB a month, the same as standard (0.07 above it); archiving saves the difference."""
    protected_tags: list[Text] = msgspec.field(
        default_factory=lambda: ["latest", "stable", "prod*", "release*"]
    )
    """Tags (* is a wildcard) that deployments pull by name: an image carrying one that a
    lifecycle rule would expire or archive is on the danger list."""
    in_use_days: PositiveInt = 7
    """An image Inspector saw running (last_in_use_at) this many days before the scan counts
    as in use, as does one with an in_use_count above 0 (collect.inspector)."""


class SinkOptions(_Section, frozen=True):
    postgres_schema: Annotated[
        str,
        form(
            "lowercase letters, digits and _ (not starting with a digit), at most 63",
            pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        ),
    ] = "ecr_inventory"
    """PostgreSQL schema of the inventory tables; created, and migrated, as needed."""
    prune: bool = False
    """After a complete scan, delete what it no longer saw instead of marking it deleted:
    rows (SQLite, PostgreSQL) or the older scans' files (Parquet). `--prune` sets this."""
    retry_seconds: PositiveFloat = 120.0
    """How long a database sink retries a failed batch (reconnecting, with backoff) before
    the scan stops with exit 1."""


class Config(_Section, frozen=True):
    regions: Literal["all"] | list[RegionName] = msgspec.field(default_factory=list)
    """Regions to scan: a list, or "all" (every ECR region of the partition). Empty: the
    region of the AWS profile or AWS_REGION."""
    partition: Literal["aws", "aws-cn", "aws-us-gov"] = "aws"
    """The partition whose regions "all" expands to."""
    unlisted_regions: bool = False
    """Accept region names that the installed botocore does not list for ECR (a region newer
    than botocore); otherwise such a name is a config error. Upgrading botocore is better."""
    endpoint_url: (
        Annotated[str, form("a URL starting with http:// or https://", pattern=r"^https?://")]
        | None
    ) = None
    """Send every AWS call (ECR and STS) here instead of AWS; AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_ECR and AWS_ENDPOINT_URL_STS work too."""
    sink: str = "-"
    """Where records go: "-" or "jsonl:-" (stdout), "jsonl:PATH", "jsonl:PATH.gz",
    "sqlite:PATH", "postgresql://USER@HOST:PORT/DB", "parquet:DIR" (docs/sinks.md)."""
    sink_options: SinkOptions = msgspec.field(default_factory=SinkOptions)
    accounts: list[Account] = msgspec.field(default_factory=list)
    """Accounts to scan, each through a role; empty: the account of the credentials."""
    organization: Organization | None = None
    """Discover the accounts with organizations:ListAccounts (or per OU) instead."""
    shard: (
        Annotated[str, form("K/N (shard K of N), e.g. 0/4", pattern=r"^\d+/[1-9]\d*$")] | None
    ) = None
    """"K/N": scan only the (account, region) units in shard K (0 <= K < N) of N."""
    since: (
        Annotated[
            datetime,
            form("a duration such as 36h or 7d, or a timestamp such as 2026-11-01T00:00:00Z"),
        ]
        | None
    ) = None
    """Only images pushed since then: a timestamp, or a duration back from now such as
    "36h" or "7d" (repositories are still all listed)."""
    cache_dir: str | None = None
    """Where the manifest cache (manifests.sqlite), the learned rates (rates.json) and the
    image pages of large repositories held during a scan live; null: $XDG_CACHE_HOME/ecr-crawler
    or ~/.cache/ecr-crawler."""
    collect: Collect = msgspec.field(default_factory=Collect)
    auth: Auth = msgspec.field(default_factory=Auth)
    concurrency: Concurrency = msgspec.field(default_factory=Concurrency)
    retry: Retry = msgspec.field(default_factory=Retry)
    rate_limit: RateLimit = msgspec.field(default_factory=RateLimit)
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    log: Log = msgspec.field(default_factory=Log)
    compliance: Compliance = msgspec.field(default_factory=Compliance)
    lifecycle: Lifecycle = msgspec.field(default_factory=Lifecycle)
