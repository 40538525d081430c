"""Configuration: parsed once from YAML and flags into frozen, validated objects."""

from __future__ import annotations

import difflib
import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
import yaml

from crawler.errors import ConfigError

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"

RegionName = Annotated[str, msgspec.Meta(pattern=REGION_PATTERN)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Auth(_Section, frozen=True):
    role_arn: Annotated[str, msgspec.Meta(pattern=ROLE_ARN_PATTERN)] | None = None
    """Role to assume on top of the standard credential chain; null uses the chain as is."""
    external_id: str | None = None
    """ExternalId for the role's trust policy, if it asks for one."""
    session_name: Annotated[str, msgspec.Meta(pattern=r"^[\w+=,.@-]{2,64}$")] = "ecr-crawler"
    """RoleSessionName of the assumed role, shown in CloudTrail."""
    duration_seconds: Annotated[int, msgspec.Meta(ge=900, le=43200)] = 3600
    """Lifetime of each assumed-role session; they are refreshed before expiry."""


AccountId = Annotated[str, msgspec.Meta(pattern=r"^\d{12}$")]
RoleArn = Annotated[str, msgspec.Meta(pattern=ROLE_ARN_PATTERN)]
SessionName = Annotated[str, msgspec.Meta(pattern=r"^[\w+=,.@-]{2,64}$")]


class Account(_Section, frozen=True):
    account_id: AccountId
    """The account to scan."""
    role_arn: RoleArn
    """The role to assume in it (from the base credentials, after auth.role_arn if set)."""
    external_id: str | None = None
    """ExternalId, if the role's trust policy asks for one."""
    session_name: SessionName = "ecr-crawler"
    """RoleSessionName, shown in the account's CloudTrail."""


class Organization(_Section, frozen=True):
    member_role_name: Annotated[str, msgspec.Meta(pattern=r"^[\w+=,.@/-]{1,64}$")]
    """The role to assume in every member account (same name everywhere)."""
    ous: list[Annotated[str, msgspec.Meta(pattern=r"^(ou-[0-9a-z]+-[0-9a-z]+|r-[0-9a-z]+)$")]] = (
        msgspec.field(default_factory=list)
    )
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
    """Calls per second at the start, per account-region and operation; doubled each second
    until the first throttle (slow start)."""
    beta: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.85
    """After a throttle, send at this fraction of the rate that was throttled."""
    increase: PositiveFloat = 0.5
    """While calls succeed, the rate grows by this many calls/s each second."""
    min_rate: PositiveFloat = 0.5
    """Never pace below this many calls per second."""


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
    """"summary": the counts DescribeImages gives; "full": one record per finding
    (DescribeImageScanFindings) for every image whose scan completed; "off": neither."""
    registry: bool = False
    """A registry record per account-region: replication, scanning configuration, registry
    policy, pull-through cache rules, pull-time update exclusions."""
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
    check: Annotated[str, msgspec.Meta(min_length=1)]
    """The check id (`ecr-crawler checks --list`), or "*" for every check."""
    resource: Annotated[str, msgspec.Meta(min_length=1)]
    """The repository name, image URI or ARN the finding is about; * and ? are wildcards."""
    reason: Annotated[str, msgspec.Meta(min_length=1)]
    """Why the finding is accepted; every report shows it."""
    expires: date
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
    trusted_accounts: list[Annotated[str, msgspec.Meta(pattern=r"^\d{12}$")]] = msgspec.field(
        default_factory=list
    )
    """Accounts that repository and registry policies may grant access to, besides the
    scanned accounts themselves."""
    trusted_organizations: list[Annotated[str, msgspec.Meta(pattern=r"^o-[a-z0-9]{10,32}$")]] = (
        msgspec.field(default_factory=list)
    )
    """AWS Organizations ids that a policy may grant access to (condition aws:PrincipalOrgID)."""
    pull_through_upstreams: list[str] = msgspec.field(default_factory=list)
    """Upstream registries that pull-through cache rules may point to (* and ? are wildcards),
    e.g. "public.ecr.aws"; a rule to any other is a finding."""
    suppressions: list[Suppression] = msgspec.field(default_factory=list)
    """Accepted findings: each names a check, a resource, a reason and an expiry date."""


class SinkOptions(_Section, frozen=True):
    postgres_schema: Annotated[str, msgspec.Meta(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = (
        "ecr_inventory"
    )
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
    endpoint_url: Annotated[str, msgspec.Meta(pattern=r"^https?://")] | None = None
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
    shard: Annotated[str, msgspec.Meta(pattern=r"^\d+/[1-9]\d*$")] | None = None
    """"K/N": scan only the (account, region) units in shard K (0 <= K < N) of N."""
    since: datetime | None = None
    """Only images pushed since then: a timestamp, or a duration back from now such as
    "36h" or "7d" (repositories are still all listed)."""
    cache_dir: str | None = None
    """Where the manifest cache lives; null: $XDG_CACHE_HOME/ecr-crawler or
    ~/.cache/ecr-crawler."""
    collect: Collect = msgspec.field(default_factory=Collect)
    auth: Auth = msgspec.field(default_factory=Auth)
    concurrency: Concurrency = msgspec.field(default_factory=Concurrency)
    retry: Retry = msgspec.field(default_factory=Retry)
    rate_limit: RateLimit = msgspec.field(default_factory=RateLimit)
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    log: Log = msgspec.field(default_factory=Log)
    compliance: Compliance = msgspec.field(default_factory=Compliance)


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Config:
    """Read `path` (YAML), apply `overrides` (dotted keys, e.g. ``concurrency.api_calls=8``;
    None means "not given") and validate; any problem is one ConfigError naming the key."""
    raw: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not a text file in UTF-8 (byte {exc.start}); save the YAML as UTF-8"
            ) from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise ConfigError(f"{path}: not valid YAML{line}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of keys at the top level")
        raw = loaded
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            child = node.get(key)
            node[key] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[leaf] = value
    if isinstance(raw.get("regions"), str) and raw["regions"] != "all":
        raw["regions"] = [r.strip() for r in raw["regions"].split(",") if r.strip()]
    try:
        if isinstance(raw.get("since"), str) and (ago := _duration(raw["since"])) is not None:
            raw["since"] = (datetime.now(UTC) - ago).isoformat()
    except OverflowError:
        raise ConfigError(f"{source}: since: {raw['since']!r} reaches back too far") from None
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        if str(exc).endswith("`$.since`"):
            raise ConfigError(
                f"{source}: since: expected a duration such as 36h or 7d, or a timestamp such "
                "as 2026-11-01T00:00:00Z"
            ) from None
        flags = [k for k, v in overrides.items() if v is not None]
        raise ConfigError(_explain(str(exc), raw, source, flags)) from None
    if config.accounts and config.organization:
        raise ConfigError(f"{source}: set either accounts or organization, not both")
    if config.shard and int(config.shard.split("/")[0]) >= int(config.shard.split("/")[1]):
        raise ConfigError(f"{source}: shard: K/N needs 0 <= K < N, got {config.shard}")
    if config.since is not None and config.since.tzinfo is None:
        raise ConfigError(f"{source}: since: give a time zone, e.g. 2026-11-01T00:00:00Z")
    return config


def _duration(text: str) -> timedelta | None:
    """'90m', '36h', '7d', '2w' as a timedelta; None for anything else (a timestamp)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if match is None:
        return None
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})


# What a valid value looks like, by pattern: msgspec's messages would show the raw regex.
FORMS = {
    REGION_PATTERN: "a region name such as us-east-1",
    ROLE_ARN_PATTERN: "a role ARN such as arn:aws:iam::123456789012:role/NAME",
    r"^[\w+=,.@-]{2,64}$": "2 to 64 letters, digits or +=,.@_-",
    r"^https?://": "a URL starting with http:// or https://",
    r"^[a-z_][a-z0-9_]{0,62}$": "lowercase letters, digits and _ (not starting with a digit)",
    r"^\d{12}$": "a 12-digit account id",
}
# Values of keys named like these are never repeated in a message.
SECRET_KEY_NAMES = re.compile(r"secret|token|password|external_id", re.IGNORECASE)


def _explain(message: str, raw: dict[str, Any], source: str, flags: list[str]) -> str:
    """Turn msgspec's "Expected `int` >= 1 - at `$.concurrency.api_calls`" into
    "FILE: concurrency.api_calls: expected `int` >= 1, got 0": the key, the problem and the
    value given, a "did you mean" for unknown keys, the expected form instead of a regex.
    FILE is left out when the key came from a flag (an override)."""
    problem, _, where = message.partition(" - at `$")
    path = where.rstrip("`").lstrip(".").replace("[", ".").replace("]", "")
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", problem, re.DOTALL)
    full = f"{path}.{unknown.group(1)}".lstrip(".") if unknown else path
    from_flag = any(full == f or full.startswith(f"{f}.") for f in flags)
    prefix = "" if from_flag else f"{source}: "
    if unknown:
        key = unknown.group(1)
        known = _field_names(path)
        hint = difflib.get_close_matches(key, known, n=1)
        suffix = f" (did you mean '{hint[0]}'?)" if hint else f" (known keys: {', '.join(known)})"
        shown_key = _printable(_shown_path(f"{path}.{key}" if path else key))
        return f"{prefix}unknown key '{shown_key}'{suffix}"
    shown = _shown_value(raw, path)
    pattern = re.fullmatch(r"Expected `str` matching regex (.+)", problem)
    form = None
    if pattern:
        form = next((f for p, f in FORMS.items() if repr(p) == pattern.group(1)), None)
    if form and shown is not None:
        problem = f"{shown} is not {form}"
        if path.split(".")[0] == "regions":
            problem += ", nor 'all'"
    elif form:
        problem = f"expected {form}"
    else:
        problem = problem[0].lower() + problem[1:]
        enum = re.fullmatch(r"invalid enum value (.+)", problem)
        if enum:
            problem = f"{enum.group(1)} is not one of: {', '.join(_choices(path))}"
        elif shown is not None and "missing required field" not in problem:
            problem += f" {shown}" if "got `" in problem else f", got {shown}"
    problem = _printable(problem)
    return f"{prefix}{_shown_path(path)}: {problem}" if path else f"{prefix}{problem}"


def _printable(text: str) -> str:
    """One line whatever the user typed: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _shown_path(path: str) -> str:
    """regions.0 -> regions[0]"""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)


def _shown_value(raw: Any, path: str) -> str | None:
    """The value the user gave at `path`, short and quoted; None if unknown or secret."""
    if SECRET_KEY_NAMES.search(path):
        return None
    value = raw
    for part in filter(None, path.split(".")):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _annotation(path: str) -> Any:
    """The type of the config key at `path` (list items by index), without Annotated or None."""
    kind: Any = Config
    for part in filter(None, path.split(".")):
        kind = _bare(kind)
        if part.isdigit() and get_origin(kind) is list:
            kind = get_args(kind)[0]
        elif isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            kind = next((f.type for f in msgspec.structs.fields(kind) if f.name == part), None)
        else:
            return None
    return _bare(kind)


def _bare(kind: Any) -> Any:
    if get_origin(kind) is Annotated:
        kind = get_args(kind)[0]
    args = [a for a in get_args(kind) if a is not type(None)]
    if get_origin(kind) in (Union, UnionType) and len(args) == 1:
        kind = _bare(args[0])
    return kind


def _choices(path: str) -> list[str]:
    kind = _annotation(path)
    options = [kind] if get_origin(kind) is Literal else list(get_args(kind))
    return [str(c) for o in options if get_origin(o) is Literal for c in get_args(o)]


def _field_names(path: str) -> list[str]:
    struct = _annotation(path)
    if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
        return []
    return [f.name for f in msgspec.structs.fields(struct)]


# A password inside a URI (scheme://user:PASSWORD@host) or in its query (?password=...).
URI_PASSWORD = re.compile(
    r"^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^@\s]+@|[?&](?:ssl)?password=", re.IGNORECASE
)


def plaintext_secrets(path: str | os.PathLike[str] | None) -> list[str]:
    """The keys of the config file at `path` whose values hold a secret in plain text, each as
    "KEY: what" for a warning (never the secret itself); [] for no file or an unreadable one
    (load_config reports those)."""
    if path is None:
        return []
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")
        elif isinstance(node, str) and node and URI_PASSWORD.search(node):
            found.append(
                f"{where}: a password inside the URI, in plain text; keep it out of the file "
                "(for PostgreSQL: PGPASSWORD or ~/.pgpass)"
            )
        elif node and re.search(r"password|secret|token", where.rsplit(".", 1)[-1], re.I):
            found.append(f"{where}: a secret in plain text; keep it out of the file")

    walk(raw, "")
    return found
