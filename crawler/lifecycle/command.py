"""What `ecr-crawler lifecycle` does once the arguments are parsed: read the saved scan, dry-run
the policies, write the table or the JSON, and gate on the danger list (--fail-on-danger)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Literal

from crawler.compliance.checker import EXIT_FINDINGS
from crawler.config import Lifecycle
from crawler.display import print_to, write_text
from crawler.lifecycle.output import print_dry_run, to_json
from crawler.lifecycle.policy import load_policy
from crawler.lifecycle.report import DryRun, Holdings, dry_run
from crawler.records import Finding
from crawler.sinks.saved import open_saved

Format = Literal["table", "json"]


def run_saved(
    location: str,
    settings: Lifecycle,
    *,
    policy_file: str | None = None,
    repositories: str | None = None,
) -> DryRun:
    """The dry run of a saved scan (JSON lines or SQLite), as of the scan's start: each
    repository's own policy, or the one in `policy_file` for every repository."""
    proposed = load_policy(policy_file) if policy_file else None  # a bad policy fails first
    saved = open_saved(location)
    holdings = Holdings()
    scan_id = None
    for record in saved.records:
        if not isinstance(record, Finding):
            scan_id = scan_id or record.scan_id
            holdings.observe(record)
    as_of = saved.summary.started_at if saved.summary else datetime.now(UTC)
    return dry_run(
        holdings,
        settings,
        as_of,
        scan_id=saved.summary.scan_id if saved.summary else scan_id,
        proposed=proposed,
        source=policy_file or "attached",
        repositories=repositories,
    )


def write_dry_run(run: DryRun, output_format: Format, output: str | None) -> None:
    if output_format == "json":
        write_text(json.dumps(to_json(run), indent=2) + "\n", output)
    else:
        print_to(lambda console: print_dry_run(run, console), output)


def gate(run: DryRun, *, fail_on_danger: bool) -> int:
    """The exit code: EXIT_FINDINGS (4, as `checks --fail-on`) when `fail_on_danger` and an
    image is on the danger list, else 0."""
    dangers = int(run.totals()["dangers"])
    if not (fail_on_danger and dangers):
        return 0
    print(f"ecr-crawler: {dangers} images on the danger list (exit 4)", file=sys.stderr)
    return EXIT_FINDINGS
