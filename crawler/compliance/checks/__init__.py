"""The compliance checks, one module per topic; each check registers itself, with its rule,
through `@check` (checks.base).

Importing this package imports every topic, in the order below: the order of `checks --list`
and of every report. A new check goes in its topic's module, a new topic in that list.
"""

from __future__ import annotations

from crawler.compliance.checks.base import CHECKS, Check, Context, Result, check, partition
from crawler.compliance.rules import Rule

# isort: off
# Imported for their @check registrations; their order is the report order.
from crawler.compliance.checks import scanning  # noqa: F401
from crawler.compliance.checks import repositories  # noqa: F401
from crawler.compliance.checks import lifecycle  # noqa: F401
from crawler.compliance.checks import access  # noqa: F401
from crawler.compliance.checks import vulnerabilities  # noqa: F401
from crawler.compliance.checks import images  # noqa: F401
from crawler.compliance.checks import delivery  # noqa: F401
from crawler.compliance.checks import registry  # noqa: F401

# isort: on

RULES: tuple[Rule, ...] = tuple(c.rule for c in CHECKS.values())
"""Every check's rule, in report order."""

__all__ = ["CHECKS", "RULES", "Check", "Context", "Result", "check", "partition"]
