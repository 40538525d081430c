"""What a check is: a function registered with its rule by `@check`, and the `Result` it fills.

A check reads the folded inventory and adds findings to its result. The result counts what the
check judged (`checked`) and what it could not for lack of data (`unknown`): a null field means
"not collected", and a check never guesses over it. `Result.judged` does that counting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Required, TypedDict, TypeVar, Unpack

from crawler.compliance.inventory import Inventory, RepoKey, RepoState, Unit, UnitState
from crawler.compliance.rules import Rule
from crawler.config import Compliance, Lifecycle
from crawler.records import Finding, Severity

T = TypeVar("T")
V = TypeVar("V")

ResourceType = Literal["registry", "repository", "image", "pull_through_cache_rule"]


@dataclass(frozen=True)
class Context:
    """What every check of one scan shares."""

    settings: Compliance
    scan_id: str
    trusted_accounts: frozenset[str]
    trusted_organizations: frozenset[str]
    lifecycle: Lifecycle
    """The config's lifecycle section: what counts as in use, protected tags, prices."""


def partition(region: str) -> tuple[str, str]:
    """The ARN partition and the DNS suffix of a region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def registry_host(unit: Unit, state: UnitState) -> str:
    """The registry's host name: as the records spell it, else built from its id."""
    account, region = unit
    if state.host:
        return state.host
    return f"{state.registry_id or account}.dkr.ecr.{region}.{partition(region)[1]}"


@dataclass(frozen=True)
class Subject:
    """What a finding is about: the resource, and where it is."""

    account: str
    region: str
    registry_id: str
    resource_type: ResourceType
    resource: str
    """A repository ARN, an image URI (by digest), a registry URI, or a registry URI/prefix."""
    repository_name: str | None = None
    image_digest: str | None = None


@dataclass
class Result:
    """What one check found in one scan, and how much it could judge."""

    rule: Rule
    context: Context
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    unknown: int = 0
    """Resources not judged for lack of data; the rule's `needs` says what would give it."""
    note: str | None = None

    def judged(self, items: Iterable[T], data: Callable[[T], V | None]) -> Iterator[tuple[T, V]]:
        """Each item whose `data` was collected, with it: counted as checked; the items whose
        data is None are counted as unknown and not yielded."""
        for item in items:
            value = data(item)
            if value is None:
                self.unknown += 1
                continue
            self.checked += 1
            yield item, value

    def add(
        self,
        subject: Subject,
        message: str,
        details: dict[str, Any],
        severity: Severity | None = None,
    ) -> None:
        """A finding of this check's rule about `subject`; `severity` overrides the rule's."""
        rule = self.rule
        remediation = rule.remediation
        if subject.repository_name:
            remediation = remediation.replace("NAME", subject.repository_name)
        self.findings.append(
            Finding(
                scan_id=self.context.scan_id,
                account_id=subject.account,
                region=subject.region,
                check_id=rule.id,
                severity=severity or rule.severity,
                title=rule.title,
                message=message,
                rationale=rule.rationale,
                remediation=remediation,
                resource_type=subject.resource_type,
                resource=subject.resource,
                registry_id=subject.registry_id,
                repository_name=subject.repository_name,
                image_digest=subject.image_digest,
                details=details,
            )
        )

    def on_repository(
        self,
        repo: RepoState,
        message: str,
        details: dict[str, Any],
        severity: Severity | None = None,
    ) -> None:
        """A finding on a repository, named by its ARN."""
        account, region, name = repo.key
        record = repo.repository
        arn = record.repository_arn if record and record.repository_arn else None
        subject = Subject(
            account=account,
            region=region,
            registry_id=record.registry_id if record else account,
            resource_type="repository",
            resource=arn or f"arn:{partition(region)[0]}:ecr:{region}:{account}:repository/{name}",
            repository_name=name,
        )
        self.add(subject, f"{name}: {message}", details, severity)

    def on_image(
        self,
        key: RepoKey,
        registry_id: str,
        image: tuple[str, str],
        message: str,
        details: dict[str, Any],
        severity: Severity | None = None,
    ) -> None:
        """A finding on an image of the repository `key`, named by its URI: `image` is
        (URI, digest)."""
        account, region, name = key
        uri, digest = image
        subject = Subject(
            account=account,
            region=region,
            registry_id=registry_id,
            resource_type="image",
            resource=uri,
            repository_name=name,
            image_digest=digest,
        )
        self.add(subject, message, details, severity)

    def on_registry(
        self,
        unit: Unit,
        state: UnitState,
        message: str,
        details: dict[str, Any],
        *,
        resource_type: ResourceType = "registry",
        suffix: str = "",
    ) -> None:
        """A finding on a registry (or on what `suffix` names in it), named by its host."""
        account, region = unit
        host = registry_host(unit, state)
        subject = Subject(
            account=account,
            region=region,
            registry_id=state.registry_id or account,
            resource_type=resource_type,
            resource=host + suffix,
        )
        self.add(subject, f"registry {host}: {message}", details)


CheckFunction = Callable[[Inventory, Context, Result], None]


@dataclass(frozen=True)
class Check:
    rule: Rule
    function: CheckFunction

    def run(self, inventory: Inventory, context: Context) -> Result:
        result = Result(self.rule, context)
        self.function(inventory, context, result)
        return result


CHECKS: dict[str, Check] = {}
"""Every check by id, in the order they were registered."""


class RuleFields(TypedDict, total=False):
    """A rule's fields besides its id (see `Rule`)."""

    severity: Required[Severity]
    title: Required[str]
    rationale: Required[str]
    remediation: Required[str]
    resource_type: Required[str]
    needs: str | None
    security_hub: str | None


def check(rule_id: str, **fields: Unpack[RuleFields]) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check of this rule (see `Rule` for the fields)."""
    rule = Rule(id=rule_id, **fields)

    def register(function: CheckFunction) -> CheckFunction:
        if rule_id in CHECKS:
            raise ValueError(f"two checks are registered as {rule_id}")
        CHECKS[rule_id] = Check(rule, function)
        return function

    return register
