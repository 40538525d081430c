"""The checker: observe a scan's records in stream order, then `finish` into a report.

Suppressions are applied here: a finding that an unexpired suppression covers keeps its record
(with `suppressed` set) but no longer gates; an expired suppression suppresses nothing, and the
report says so.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase

import msgspec

from crawler.compliance.checks import CHECKS, RULES, Context
from crawler.compliance.inventory import Inventory
from crawler.compliance.rules import SEVERITIES, Rule, at_least
from crawler.config import Compliance, Lifecycle, Suppression
from crawler.errors import ConfigError
from crawler.records import Finding, ScanRecord, Severity, Suppressed

EXIT_FINDINGS = 4


@dataclass(frozen=True)
class Outcome:
    """What one check found, and how much it could judge."""

    rule: Rule
    findings: tuple[Finding, ...]
    checked: int
    unknown: int
    needs: str | None
    note: str | None = None

    @property
    def open(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is None)

    @property
    def status(self) -> str:
        """failed, suppressed (every finding is), passed, partial (passed what it could
        judge), skipped (judged nothing for lack of data) or n/a (nothing to judge)."""
        if self.open:
            return "failed"
        if self.findings:
            return "suppressed"
        if self.checked and self.unknown:
            return "partial"
        if self.checked:
            return "passed"
        return "skipped" if self.unknown else "n/a"

    @property
    def explanation(self) -> str:
        """Why a check judged less than everything, for the summary."""
        if self.unknown:
            return f"{self.unknown} not evaluated: needs {self.needs} (data not collected)"
        return self.note or ""


@dataclass(frozen=True)
class SuppressionUse:
    suppression: Suppression
    matched: int
    expired: bool


@dataclass(frozen=True)
class Report:
    scan_id: str | None
    scan_status: str | None
    account_ids: tuple[str, ...]
    regions: tuple[str, ...]
    as_of: datetime
    outcomes: tuple[Outcome, ...]
    suppressions: tuple[SuppressionUse, ...]
    not_selected: tuple[str, ...]

    @property
    def findings(self) -> list[Finding]:
        return [f for o in self.outcomes for f in o.findings]

    @property
    def open(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is None]

    def counts(self) -> dict[Severity, int]:
        """Open (unsuppressed) findings by severity, every severity present."""
        counted = Counter(f.severity for f in self.open)
        return {s: counted[s] for s in SEVERITIES}

    def failing(self, threshold: str | None) -> list[Finding]:
        """Open findings at or above `threshold`; none without one."""
        if threshold is None:
            return []
        return [f for f in self.open if at_least(f.severity, threshold)]

    def exit_code(self, fail_on: str | None) -> int:
        return EXIT_FINDINGS if self.failing(fail_on) else 0

    @property
    def expired(self) -> list[SuppressionUse]:
        return [u for u in self.suppressions if u.expired]

    @property
    def skipped(self) -> list[Outcome]:
        """Checks that judged some or all resources not, for lack of collected data."""
        return [o for o in self.outcomes if o.unknown]


def select(settings: Compliance) -> tuple[list[Rule], list[str]]:
    """The rules to run and the ids left out; an unknown id is a ConfigError."""
    chosen = [r.id for r in RULES] if settings.checks == "all" else list(settings.checks)
    for key, ids in (("checks", chosen), ("skip_checks", settings.skip_checks)):
        for check_id in ids:
            if check_id not in CHECKS:
                hint = difflib.get_close_matches(check_id, list(CHECKS), n=1)
                also = f" (did you mean '{hint[0]}'?)" if hint else " (ecr-crawler checks --list)"
                raise ConfigError(f"compliance.{key}: unknown check '{check_id}'{also}")
    for suppression in settings.suppressions:
        if suppression.check != "*" and not any(fnmatchcase(i, suppression.check) for i in CHECKS):
            raise ConfigError(
                f"compliance.suppressions: unknown check '{suppression.check}' "
                "(ecr-crawler checks --list)"
            )
    rules = [r for r in RULES if r.id in chosen and r.id not in settings.skip_checks]
    return rules, [r.id for r in RULES if r not in rules]


class Checker:
    """Runs the selected checks over one scan. `observe` every record in stream order (the
    summary last), then `finish` once. Ages (untagged, not pulled) are measured at `as_of`
    (default: now); suppressions expire against `today` (default: today in UTC); the lifecycle
    check reads `lifecycle` (the config's lifecycle: section)."""

    def __init__(
        self,
        settings: Compliance,
        *,
        lifecycle: Lifecycle | None = None,
        as_of: datetime | None = None,
        today: date | None = None,
    ) -> None:
        self.rules, self.not_selected = select(settings)
        self.settings = settings
        self.lifecycle = lifecycle or Lifecycle()
        self.as_of = as_of or datetime.now(UTC)
        self.today = today or datetime.now(UTC).date()
        self.inventory = Inventory(settings, self.as_of)
        self.report: Report | None = None

    def observe(self, record: ScanRecord) -> None:
        if not isinstance(record, Finding):  # a saved scan's own findings are redone
            self.inventory.observe(record)

    def finish(self) -> Report:
        inv = self.inventory
        summary = inv.summary
        ctx = Context(
            settings=self.settings,
            scan_id=inv.scan_id or "",
            trusted_accounts=frozenset(self.settings.trusted_accounts) | inv.accounts,
            trusted_organizations=frozenset(self.settings.trusted_organizations),
            lifecycle=self.lifecycle,
        )
        uses = Counter[int]()
        outcomes = []
        for rule in self.rules:
            result = CHECKS[rule.id].run(inv, ctx)
            findings = tuple(self._suppress(f, uses) for f in result.findings)
            outcomes.append(
                Outcome(
                    rule=rule,
                    findings=findings,
                    checked=result.checked,
                    unknown=result.unknown,
                    needs=rule.needs,
                    note=result.note,
                )
            )
        self.report = Report(
            scan_id=summary.scan_id if summary else inv.scan_id,
            scan_status=summary.status if summary else None,
            account_ids=tuple(sorted(inv.accounts)),
            regions=tuple(sorted({region for _, region in inv.units})),
            as_of=self.as_of,
            outcomes=tuple(outcomes),
            suppressions=tuple(
                SuppressionUse(s, uses[i], s.expires < self.today)
                for i, s in enumerate(self.settings.suppressions)
            ),
            not_selected=tuple(self.not_selected),
        )
        return self.report

    def _suppress(self, finding: Finding, uses: Counter[int]) -> Finding:
        names = [n for n in (finding.resource, finding.repository_name) if n]
        for i, suppression in enumerate(self.settings.suppressions):
            if not fnmatchcase(finding.check_id, suppression.check) and suppression.check != "*":
                continue
            if not any(fnmatchcase(n, suppression.resource) for n in names):
                continue
            uses[i] += 1
            if suppression.expires >= self.today:
                return msgspec.structs.replace(
                    finding,
                    suppressed=Suppressed(reason=suppression.reason, expires=suppression.expires),
                )
        return finding
