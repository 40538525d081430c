"""Checks that count a repository's images by what happened to them: never scanned, scan
failed, no longer rescanned, not pulled for long, left untagged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.inventory import Inventory, RepoState
from crawler.compliance.tally import Tally


def tallied(
    repos: Iterable[RepoState],
    ctx: Context,
    out: Result,
    pick: Callable[[RepoState], Tally | None],
    describe: str,
    extra: Callable[[RepoState], dict[str, Any]] = lambda repo: {},
) -> None:
    """A finding for each of `repos` with images in the category `pick` returns (None: not
    known); `describe` is formatted with the count (`n`) and the compliance settings."""
    for repo, tally in out.judged(repos, pick):
        if tally.count:
            message = describe.format(n=tally.count, settings=ctx.settings)
            details = {"images": tally.count, "bytes": tally.bytes, "examples": tally.examples}
            out.on_repository(
                repo, f"{message} ({tally.bytes / 1e6:,.1f} MB)", details | extra(repo)
            )


@check(
    "images-never-scanned",
    severity="MEDIUM",
    title="Images never scanned",
    rationale="An image without a scan result has unknown vulnerabilities.",
    remediation="Scan them (aws ecr start-image-scan --repository-name NAME --image-id "
    "imageDigest=DIGEST) and turn on scanning on push for the repository.",
    resource_type="repository",
    needs="collect.scan_findings (summary or full)",
)
def never_scanned(inv: Inventory, ctx: Context, out: Result) -> None:
    def unscanned(repo: RepoState) -> Tally | None:
        # An image without a result is only known to be unscanned where the scan asked.
        return repo.no_result if not repo.no_result.count or inv.results_known(repo) else None

    tallied(inv.repositories(), ctx, out, unscanned, "{n} images never scanned")


@check(
    "image-scan-failed",
    severity="MEDIUM",
    title="Image scans failed",
    rationale="A failed or unsupported scan leaves the image's vulnerabilities unknown "
    "while it looks scanned.",
    remediation="Read the scan status description: UNSUPPORTED_IMAGE means basic scanning "
    "does not know the base OS (enhanced scanning may); otherwise start the scan again.",
    resource_type="repository",
)
def scan_failed(inv: Inventory, ctx: Context, out: Result) -> None:
    tallied(
        inv.repositories(),
        ctx,
        out,
        lambda r: r.scan_failed,
        "{n} images whose scan failed",
        lambda r: {"statuses": dict(r.failed_statuses)},
    )


@check(
    "scan-eligibility-expired",
    severity="MEDIUM",
    title="Images no longer rescanned by Amazon Inspector",
    rationale="Under continuous (enhanced) scanning, Amazon Inspector stops rescanning an "
    "image once the account's ECR re-scan duration has passed since its push (or last use "
    "or pull): vulnerabilities published since are not found in it, and its findings are "
    "being closed.",
    remediation="Raise the re-scan duration (aws inspector2 update-configuration "
    "--ecr-configuration rescanDuration=LIFETIME, or DAYS_180, ...; from the Inspector "
    "delegated administrator in an organisation) and rebuild and push the images still in "
    "use: an expired image stays expired when the duration grows.",
    resource_type="repository",
)
def scan_eligibility_expired(inv: Inventory, ctx: Context, out: Result) -> None:
    tallied(
        inv.repositories(),
        ctx,
        out,
        lambda r: r.expired,
        "{n} images no longer rescanned (SCAN_ELIGIBILITY_EXPIRED)",
    )


@check(
    "images-not-pulled",
    severity="LOW",
    title="Images not pulled for a long time",
    rationale="Images nobody pulled for compliance.not_pulled_days days are storage paid "
    "for nothing, and old images are the most vulnerable.",
    remediation="Expire them with a lifecycle rule (countType sinceImagePulled), or "
    "archive them to the archive storage class.",
    resource_type="repository",
)
def not_pulled(inv: Inventory, ctx: Context, out: Result) -> None:
    tallied(
        inv.repositories(),
        ctx,
        out,
        lambda r: r.not_pulled,
        "{n} images neither pulled nor pushed in {settings.not_pulled_days} days",
    )


@check(
    "untagged-images-old",
    severity="LOW",
    title="Old untagged images",
    rationale="An untagged image no index refers to is left over from a moved tag; it "
    "costs storage and is rarely pulled again.",
    remediation="Add a lifecycle rule: tagStatus untagged, countType sinceImagePushed, "
    "countNumber 14, action expire.",
    resource_type="repository",
    needs="collect.manifests (in repositories with an image index)",
)
def untagged_old(inv: Inventory, ctx: Context, out: Result) -> None:
    # Without manifests, an index's children look like leftovers: in a repository with an
    # index, untagged images of unknown parentage are not judged.
    out.unknown += sum(1 for r in inv.repos.values() if r.has_index and r.untagged_unsure.count)
    tallied(
        inv.repositories(),
        ctx,
        out,
        lambda r: r.untagged_old if r.has_index else r.untagged_old.merged(r.untagged_unsure),
        "{n} untagged images pushed more than {settings.untagged_days} days ago",
    )
