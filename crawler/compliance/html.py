"""The HTML report: one self-contained file (inline CSS and SVG, no scripts, nothing fetched)
with a chart of open findings by region and severity, a summary, and a section per check."""

from __future__ import annotations

from collections import Counter
from html import escape

from crawler import __version__
from crawler.compliance.checker import Outcome, Report
from crawler.compliance.formats import severity_line
from crawler.compliance.rules import RANK, SEVERITIES
from crawler.lifecycle.output import COLUMNS, cells, image_name, notes, size, verb
from crawler.lifecycle.report import DryRun
from crawler.records import Finding

COLORS = {
    "CRITICAL": "#8e1b1b",
    "HIGH": "#d9342b",
    "MEDIUM": "#f0932b",
    "LOW": "#f6d04d",
    "INFORMATIONAL": "#9aa5b1",
}
STATUS_COLORS = {
    "failed": "#d9342b",
    "suppressed": "#8e44ad",
    "passed": "#2e8540",
    "partial": "#b7791f",
    "skipped": "#6b7280",
    "n/a": "#6b7280",
}
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933;
       margin: 2rem auto; max-width: 1180px; padding: 0 1.5rem; background: #fff; }
h1 { font-size: 1.8rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 2px solid #e4e7eb;
     padding-bottom: .3rem; }
h2 code { font-size: 1.1rem; }
.meta { color: #52606d; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e4e7eb;
         vertical-align: top; }
th, td.k, .badge { white-space: nowrap; }
td code, .fix, .meta { overflow-wrap: anywhere; }
th { background: #f5f7fa; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: .25rem; color: #fff;
         font-size: .8rem; font-weight: 600; }
.status { font-weight: 600; }
.why { color: #3e4c59; margin: .3rem 0; }
.fix { background: #f5f7fa; border-left: 4px solid #9aa5b1; padding: .4rem .7rem; }
.suppressed td { color: #7b8794; }
.note { color: #7b8794; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; }
"""


def _badge(severity: str) -> str:
    color = COLORS.get(severity, "#9aa5b1")
    text = "#1f2933" if severity == "LOW" else "#fff"
    return f'<span class="badge" style="background:{color};color:{text}">{severity}</span>'


def chart(findings: list[Finding], regions: tuple[str, ...]) -> str:
    """An SVG bar per region, stacked by severity, with a legend."""
    counts: dict[str, Counter[str]] = {r: Counter() for r in regions}
    for finding in findings:
        counts.setdefault(finding.region, Counter())[finding.severity] += 1
    columns = sorted(counts)
    top = max((sum(c.values()) for c in counts.values()), default=0)
    width, height, left, bottom, head = 760, 330, 48, 44, 52
    plot = height - bottom - head
    if not columns or top == 0:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60" '
            'role="img" aria-label="no open findings"><text x="0" y="35" font-size="16" '
            'fill="#2e8540">No open findings.</text></svg>'
        )
    step = (width - left - 20) / len(columns)
    bar = min(90.0, step * 0.6)
    scale = plot / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        'aria-label="open findings by region and severity" font-family="system-ui, sans-serif">'
    ]
    for tick in sorted({0, top // 2, top}):
        y = head + plot - tick * scale
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e4e7eb"/>'
            f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="12" text-anchor="end" '
            f'fill="#52606d">{tick}</text>'
        )
    for i, region in enumerate(columns):
        x = left + step * i + (step - bar) / 2
        y = head + plot
        for severity in reversed(SEVERITIES):  # the worst on top
            n = counts[region][severity]
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[severity]}"><title>{escape(region)}: {n} {severity}</title></rect>'
            )
        total = sum(counts[region].values())
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 6:.1f}" font-size="13" text-anchor="middle" '
            f'font-weight="600">{total}</text>'
            f'<text x="{x + bar / 2:.1f}" y="{head + plot + 20}" font-size="13" '
            f'text-anchor="middle">{escape(region)}</text>'
        )
    x = left
    for severity in SEVERITIES:
        parts.append(
            f'<rect x="{x}" y="8" width="14" height="14" fill="{COLORS[severity]}"/>'
            f'<text x="{x + 20}" y="20" font-size="12">{severity}</text>'
        )
        x += 36 + 8 * len(severity)
    parts.append("</svg>")
    return "".join(parts)


def _summary(report: Report) -> str:
    rows = []
    for outcome in report.outcomes:
        rule = outcome.rule
        color = STATUS_COLORS[outcome.status]
        rows.append(
            f'<tr><td><a href="#{rule.id}"><code>{rule.id}</code></a></td>'
            f"<td>{_badge(rule.severity)}</td>"
            f'<td class="status" style="color:{color}">{outcome.status}</td>'
            f'<td class="n">{len(outcome.open)}</td>'
            f'<td class="n">{len(outcome.findings) - len(outcome.open)}</td>'
            f'<td class="n">{outcome.checked}</td>'
            f"<td>{escape(outcome.explanation)}</td></tr>"
        )
    return (
        "<table><thead><tr><th>check</th><th>severity</th><th>status</th><th>findings</th>"
        "<th>suppressed</th><th>checked</th><th>note</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _section(outcome: Outcome) -> str:
    rule = outcome.rule
    head = (
        f'<section id="{rule.id}"><h2><code>{rule.id}</code>: {escape(rule.title)}</h2>'
        f"<p>{_badge(rule.severity)} "
        f'<span class="status" style="color:{STATUS_COLORS[outcome.status]}">'
        f"{outcome.status}</span> &middot; {outcome.checked} checked"
        + (f" &middot; {escape(outcome.explanation)}" if outcome.explanation else "")
        + f'</p><p class="why">{escape(rule.rationale)}</p>'
        f'<p class="fix"><strong>Remediation:</strong> {escape(rule.remediation)}</p>'
    )
    rows = []
    for f in sorted(outcome.findings, key=lambda f: (-RANK[f.severity], f.region, f.resource)):
        note = ""
        if f.suppressed is not None:
            note = f"suppressed until {f.suppressed.expires}: {escape(f.suppressed.reason)}"
        rows.append(
            f'<tr class="{"suppressed" if f.suppressed else "open"}">'
            f'<td>{_badge(f.severity)}</td><td class="k">{escape(f.account_id)}</td>'
            f'<td class="k">{escape(f.region)}</td><td><code>{escape(f.resource)}</code></td>'
            f"<td>{escape(f.message)}</td><td>{note}</td></tr>"
        )
    if not rows:
        text = "no findings" if outcome.checked else "nothing evaluated"
        rows.append(f'<tr><td colspan="6" class="note">{text}</td></tr>')
    table = (
        "<table><thead><tr><th>severity</th><th>account</th><th>region</th><th>resource</th>"
        f"<th>finding</th><th>suppression</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return head + table + "</section>"


def lifecycle_section(run: DryRun) -> str:
    """What the repositories' lifecycle policies would expire or archive, what that saves a
    month, and the danger list (`ecr-crawler lifecycle`, docs/lifecycle.md)."""
    totals = run.totals()
    rows = []
    for outcome in run.outcomes:
        _, region, name = outcome.key
        rows.append(
            f"<tr><td><code>{escape(region)}/{escape(name)}</code></td>"
            + "".join(f'<td class="n">{c}</td>' for c in cells(outcome, run))
            + "</tr>"
        )
    dangers = [
        f"<tr><td><code>{escape(o.key[1])}/{escape(o.key[2])}</code></td>"
        f"<td><code>{escape(image_name(d.action))}</code></td>"
        f"<td>{verb(d.action)}</td>"
        f'<td class="n">{d.action.rule}</td><td>{escape("; ".join(d.reasons))}</td></tr>'
        for o in run.outcomes
        for d in o.dangers
    ]
    listing = (
        "<table><thead><tr><th>repository</th><th>image</th><th>action</th><th>rule</th>"
        f"<th>why</th></tr></thead><tbody>{''.join(dangers)}</tbody></table>"
        if dangers
        else '<p class="note">danger list: empty</p>'
    )
    note = "".join(f'<p class="note">{escape(line)}</p>' for line in notes(run))
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    return (
        '<section id="lifecycle"><h2>Lifecycle and cost</h2>'
        f"<p><strong>{int(totals['expire_images'])} images ({size(totals['expire_bytes'])}) "
        f"would expire and {int(totals['archive_images'])} ({size(totals['archive_bytes'])}) "
        f"move to the archive: ${totals['monthly_savings']:.4f} a month saved</strong> at "
        f"${run.settings.price_per_gb_month:.2f}/GB-month standard and "
        f"${run.settings.archive_price_per_gb_month:.2f}/GB-month archive.</p>"
        f"<table><thead><tr><th>repository</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<h3>Danger list</h3>{listing}{note}</section>"
    )


def to_html(report: Report, lifecycle: DryRun | None = None) -> str:
    accounts = ", ".join(report.account_ids) or "?"
    expired = "".join(
        f"<li><code>{escape(u.suppression.check)}</code> for "
        f"<code>{escape(u.suppression.resource)}</code> ended {u.suppression.expires} "
        f"({escape(u.suppression.reason)}): {u.matched} findings count again</li>"
        for u in report.expired
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ECR compliance report</title><style>{CSS}</style></head><body>"
        "<h1>ECR compliance report</h1>"
        f'<p class="meta">scan <code>{escape(report.scan_id or "?")}</code> '
        f"({escape(report.scan_status or 'no summary')}) &middot; account {escape(accounts)} "
        f"&middot; regions {escape(', '.join(report.regions))} &middot; as of "
        f"{report.as_of:%Y-%m-%d %H:%M} UTC &middot; ecr-crawler {__version__}</p>"
        f"<p><strong>{escape(severity_line(report))}</strong></p>"
        "<h2>Open findings by region and severity</h2>"
        f"{chart(report.open, report.regions)}"
        f"<h2>Summary</h2>{_summary(report)}"
        + (f"<h2>Expired suppressions</h2><ul>{expired}</ul>" if expired else "")
        + "".join(_section(o) for o in report.outcomes)
        + (lifecycle_section(lifecycle) if lifecycle is not None else "")
        + "</body></html>\n"
    )
