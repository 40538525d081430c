"""Checks of what the image scans found: per repository, and in the image deployed next."""

from __future__ import annotations

from collections import Counter

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.inventory import ImageRef, Inventory, RepoState, worst
from crawler.compliance.rules import SEVERITIES, as_severity, at_least
from crawler.compliance.tally import Tally

Counts = dict[str, int] | Counter[str]


def _counts_text(counts: Counts) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts.get(s))


@check(
    "vulnerable-images",
    severity="HIGH",
    title="Images with vulnerabilities at or above the threshold",
    rationale="Images whose latest scan found CRITICAL or HIGH vulnerabilities (the "
    "threshold is compliance.vulnerability_severity) can be pulled and run.",
    remediation="Rebuild the images on patched base images and push them; expire the old "
    "ones with a lifecycle policy. See the scan_finding records (collect.scan_findings: "
    "full) for the packages and fixed versions.",
    resource_type="repository",
    needs="collect.scan_findings (summary or full)",
)
def vulnerable_images(inv: Inventory, ctx: Context, out: Result) -> None:
    threshold = ctx.settings.vulnerability_severity

    def vulnerable(repo: RepoState) -> Tally | None:
        # Images whose results were not asked may hide vulnerabilities: no pass without them.
        known = repo.vulnerable.count or not repo.no_result.count or inv.results_known(repo)
        return repo.vulnerable if known else None

    for repo, found in out.judged(inv.repositories(), vulnerable):
        severity = worst(repo.by_worst)
        if found.count and severity is not None:
            out.on_repository(
                repo,
                f"{found.count} of {repo.images} images have {threshold} or worse "
                f"vulnerabilities in their latest scan (worst: {_counts_text(repo.by_worst)})",
                {
                    "images": found.count,
                    "images_in_repository": repo.images,
                    "by_worst_severity": dict(repo.by_worst),
                    "examples": found.examples,
                },
                severity=as_severity(severity),
            )


def _current(repo: RepoState) -> list[tuple[ImageRef, list[str]]]:
    """The image tagged `latest` and the most recently pushed one (often the same), each with
    the roles it plays."""
    roles: dict[str, list[str]] = {}
    refs: dict[str, ImageRef] = {}
    for role, ref in (("tag latest", repo.latest), ("most recent push", repo.newest)):
        if ref is not None:
            roles.setdefault(ref.digest, []).append(role)
            refs[ref.digest] = ref
    return [(ref, roles[digest]) for digest, ref in refs.items()]


@check(
    "vulnerable-current-image",
    severity="HIGH",
    title="The current image has vulnerabilities at or above the threshold",
    rationale="The image behind the `latest` tag, or the most recently pushed image, is "
    "what gets deployed next; its vulnerabilities are the ones that ship.",
    remediation="Rebuild on a patched base image, push, and move the tag; then rescan "
    "(aws ecr start-image-scan) or wait for continuous scanning.",
    resource_type="image",
    needs="collect.scan_findings; collect.manifests (when `latest` is an image index)",
)
def vulnerable_current_image(inv: Inventory, ctx: Context, out: Result) -> None:
    threshold = ctx.settings.vulnerability_severity
    current = ((repo, ref, roles) for repo in inv.repositories() for ref, roles in _current(repo))
    for (repo, ref, roles), counts in out.judged(current, lambda c: _counts(inv, c[0], c[1])):
        severity = worst(counts)
        if severity is not None and at_least(severity, threshold):
            _on_image(out, repo, ref, roles, counts, severity)


def _counts(inv: Inventory, repo: RepoState, ref: ImageRef) -> Counts | None:
    """The severity counts of the image, of an index those of its platform images; None when
    they are not known."""
    if not ref.is_index:
        found: Counts | None = ref.counts
        missing = ref.no_result
    elif not repo.children_known:
        return None  # its children carry the scans, and which are its children is not known
    else:
        found = repo.child_counts.get(ref.digest)
        missing = ref.digest in repo.unscanned_parents
    if found:
        return found
    return None if missing and not inv.results_known(repo) else {}


def _on_image(
    out: Result, repo: RepoState, ref: ImageRef, roles: list[str], counts: Counts, severity: str
) -> None:
    """A finding on the image, named by its URI."""
    account, _, name = repo.key
    out.on_image(
        repo.key,
        repo.repository.registry_id if repo.repository else account,
        (ref.uri, ref.digest),
        f"{name}@{ref.digest[:19]} ({' and '.join(roles)}"
        + (f", tags {', '.join(ref.tags)}" if ref.tags else "")
        + ") has vulnerabilities"
        + (" in its platform images" if ref.is_index else "")
        + f": {_counts_text(counts)}",
        {
            "roles": roles,
            "tags": ref.tags,
            "severity_counts": dict(counts),
            "pushed_at": ref.pushed_at.isoformat() if ref.pushed_at else None,
            "index": ref.is_index,
        },
        as_severity(severity),
    )
