"""A lifecycle dry run as a person reads it (tables: per repository, the totals, the danger
list) and as a program does (JSON)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from crawler.lifecycle.evaluate import Action
from crawler.lifecycle.report import DryRun, Outcome


def size(n: float) -> str:
    """Bytes in binary units, as AWS bills storage: 1.5 GiB, 12.3 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop always returns


COLUMNS = ("images", "expire", "expire bytes", "archive", "archive bytes", "$/month", "danger")
"""A repository's columns after its name, in the table and in the HTML report."""


def cells(outcome: Outcome, run: DryRun) -> list[str]:
    """A repository's values of COLUMNS."""
    expire, expire_bytes = outcome.tally("expire")
    archive, archive_bytes = outcome.tally("transition")
    return [
        str(outcome.images),
        str(expire),
        size(expire_bytes),
        str(archive),
        size(archive_bytes),
        f"{outcome.savings(run.settings):.4f}",
        str(len(outcome.dangers)),
    ]


def verb(action: Action) -> str:
    """What the action does to the image: expire or archive."""
    return "archive" if action.type == "transition" else "expire"


def image_name(action: Action) -> str:
    """The image's tags, else its short digest."""
    image = action.image
    return ", ".join(image.tags) if image.tags else image.digest[:19]


def print_dry_run(run: DryRun, console: Console) -> None:
    """Per repository what the policy would do, the totals, then the danger list."""
    title = (
        f"lifecycle dry run ({run.source} policies): scan {run.scan_id or '?'}, "
        f"as of {run.as_of:%Y-%m-%d %H:%M} UTC"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("repository", no_wrap=True)
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for outcome in run.outcomes:
        table.add_row(*_row(outcome, run))
    totals = run.totals()
    table.add_section()
    table.add_row(
        f"total ({int(totals['repositories'])} repositories)",
        str(int(totals["images"])),
        str(int(totals["expire_images"])),
        size(totals["expire_bytes"]),
        str(int(totals["archive_images"])),
        size(totals["archive_bytes"]),
        f"{totals['monthly_savings']:.4f}",
        str(int(totals["dangers"])),
    )
    console.print(table)
    console.print(
        f"prices: standard ${run.settings.price_per_gb_month:.2f}/GB-month, archive "
        f"${run.settings.archive_price_per_gb_month:.2f}/GB-month (lifecycle: in the config)"
    )
    _print_dangers(run, console)
    for line in notes(run):
        console.print(line)


def _row(outcome: Outcome, run: DryRun) -> list[str]:
    account, region, name = outcome.key
    shown = f"{region}/{name}" + (f" ({account})" if len(_accounts(run)) > 1 else "")
    return [shown, *cells(outcome, run)]


def _accounts(run: DryRun) -> set[str]:
    return {o.key[0] for o in run.outcomes}


def _print_dangers(run: DryRun, console: Console) -> None:
    dangers = [(o, d) for o in run.outcomes for d in o.dangers]
    if not dangers:
        console.print("danger list: empty")
        return
    table = Table(title="danger list", title_justify="left")
    for column in ("repository", "image", "action", "rule", "why"):
        table.add_column(column, overflow="fold")
    for outcome, danger in dangers:
        action = danger.action
        rule = f"{action.rule}" + (" (its subject's)" if action.follows else "")
        table.add_row(
            f"{outcome.key[1]}/{outcome.key[2]}",
            image_name(action),
            verb(action),
            rule,
            "; ".join(danger.reasons),
        )
    console.print(table)


def notes(run: DryRun) -> list[str]:
    """What was not evaluated, and why."""
    lines = []
    if run.without_policy:
        lines.append(f"{run.without_policy} repositories have no lifecycle policy")
    if run.not_collected:
        lines.append(
            f"{run.not_collected} repositories' policies were not collected (collect.policies)"
        )
    for (_, region, name), problem in run.invalid:
        lines.append(f"{region}/{name}: policy not evaluated: {problem}")
    if run.outcomes and not any(o.in_use_known for o in run.outcomes):
        lines.append("in use: not known (collect.inspector, in registries with enhanced scanning)")
    return lines


def to_json(run: DryRun) -> dict[str, Any]:
    return {
        "scan_id": run.scan_id,
        "as_of": run.as_of.isoformat(),
        "policy": run.source,
        "prices": {
            "standard_per_gb_month": run.settings.price_per_gb_month,
            "archive_per_gb_month": run.settings.archive_price_per_gb_month,
        },
        "totals": run.totals(),
        "repositories": [_repository(o, run) for o in run.outcomes],
        "not_evaluated": {
            "without_policy": run.without_policy,
            "not_collected": run.not_collected,
            "invalid": [
                {"account_id": a, "region": r, "repository_name": n, "problem": p}
                for (a, r, n), p in run.invalid
            ],
        },
    }


def _repository(outcome: Outcome, run: DryRun) -> dict[str, Any]:
    account, region, name = outcome.key
    reasons = {d.action.image.digest: list(d.reasons) for d in outcome.dangers}
    expire, expire_bytes = outcome.tally("expire")
    archive, archive_bytes = outcome.tally("transition")
    return {
        "account_id": account,
        "region": region,
        "repository_name": name,
        "images": outcome.images,
        "expire_images": expire,
        "expire_bytes": expire_bytes,
        "archive_images": archive,
        "archive_bytes": archive_bytes,
        "monthly_savings": round(outcome.savings(run.settings), 4),
        "in_use_known": outcome.in_use_known,
        "actions": [
            {
                "image_digest": a.image.digest,
                "image_uri": a.image.uri,
                "image_tags": list(a.image.tags),
                "image_size_in_bytes": a.image.size,
                "image_pushed_at": a.image.pushed_at.isoformat() if a.image.pushed_at else None,
                "action": a.type,
                "rule_priority": a.rule,
                "follows_subject": a.follows,
                "danger": reasons.get(a.image.digest, []),
            }
            for a in outcome.actions
        ],
    }
