"""Checks of how images reach the places that run them: signed where a signing rule asks for
it (by managed signing or a signature referrer), signed without failure, replicated to every
destination."""

from __future__ import annotations

from collections.abc import Iterator

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.checks.images import tallied
from crawler.compliance.inventory import Inventory, RepoState
from crawler.compliance.tally import Tally

SIGNING_STATUS = (
    "aws ecr describe-image-signing-status --repository-name NAME --image-id imageDigest=DIGEST"
)


def _covered(inv: Inventory) -> Iterator[tuple[RepoState, list[str] | None]]:
    """The repositories with images to sign, with the signing profiles whose rules cover them
    (None: the registry's rules were not collected). A repository no rule covers is left out:
    nothing asks for its images to be signed."""
    for repo in inv.repositories():
        if not repo.delivery.signable:
            continue
        unit = inv.units.get(repo.key[:2])
        signing = unit.signing if unit else None
        profiles = None if signing is None else signing.profiles_for(repo.key[2])
        if profiles != []:
            yield repo, profiles


def _with_images(inv: Inventory) -> Iterator[RepoState]:
    """Repositories with images: an empty one has nothing signed or replicated to judge."""
    return (repo for repo in inv.repositories() if repo.images)


def _unsigned(item: tuple[RepoState, list[str] | None]) -> Tally | None:
    repo, profiles = item
    delivery = repo.delivery
    if profiles is None or (not delivery.unsigned.count and delivery.signing_unknown):
        return None
    return delivery.unsigned


@check(
    "images-unsigned",
    severity="HIGH",
    title="Images without a signature where a signing rule applies",
    rationale="The registry's signing rules say these images must be signed, and a deployment "
    "that verifies signatures (admission control, ECS/EKS image verification) refuses them, or, "
    "where nothing verifies, runs an image whose origin nobody can prove.",
    remediation="See why: " + SIGNING_STATUS + ". Managed signing signs an image when it is "
    "pushed, so push it again once the pushing principal may use the signing profile; or sign "
    "it and push the signature as a referrer (Notation with the AWS Signer plugin, cosign).",
    resource_type="repository",
    needs="collect.signing and collect.registry",
)
def images_unsigned(inv: Inventory, ctx: Context, out: Result) -> None:
    for (repo, profiles), tally in out.judged(_covered(inv), _unsigned):
        if tally.count:
            out.on_repository(
                repo,
                f"{tally.count} images signed neither by managed signing nor by a signature "
                f"referrer ({tally.bytes / 1e6:,.1f} MB)",
                {
                    "images": tally.count,
                    "bytes": tally.bytes,
                    "examples": tally.examples,
                    "signing_profiles": profiles,
                },
            )


@check(
    "signing-failed",
    severity="MEDIUM",
    title="Managed signing failed",
    rationale="AWS Signer could not sign these images on push: they stay unsigned until pushed "
    "again, and the cause (a profile the pusher may not use, a revoked or cancelled profile) "
    "fails every later push too.",
    remediation="Read failureCode and failureReason (" + SIGNING_STATUS + "), give the pushing "
    "principal the Signer permissions the User Guide's managed signing page lists for the "
    "profile, then push the images again.",
    resource_type="repository",
    needs="collect.signing",
)
def signing_failed(inv: Inventory, ctx: Context, out: Result) -> None:
    def failed(repo: RepoState) -> Tally | None:
        delivery = repo.delivery
        return (
            None
            if delivery.signing_unread and not delivery.signing_failed.count
            else (delivery.signing_failed)
        )

    tallied(
        _with_images(inv),
        ctx,
        out,
        failed,
        "{n} images whose managed signing FAILED",
        lambda r: {"failures": dict(r.delivery.failed_signing)},
    )


@check(
    "replication-failed",
    severity="MEDIUM",
    title="Image replication failed",
    rationale="The registry's replication rules send these images to another region or "
    "account, and they did not arrive: a deployment or a disaster recovery there pulls an "
    "image that is missing, or an older one.",
    remediation="Read the failure code (aws ecr describe-image-replication-status "
    "--repository-name NAME --image-id imageDigest=DIGEST); for another account, its registry "
    "policy must allow ecr:ReplicateImage (and ecr:CreateRepository) to this account (aws ecr "
    "put-registry-policy there). Only pushes replicate: push the images again once fixed.",
    resource_type="repository",
    needs="collect.replication",
)
def replication_failed(inv: Inventory, ctx: Context, out: Result) -> None:
    def failed(repo: RepoState) -> Tally | None:
        delivery = repo.delivery
        return (
            None
            if delivery.replication_unread and not delivery.replication_failed.count
            else (delivery.replication_failed)
        )

    tallied(
        _with_images(inv),
        ctx,
        out,
        failed,
        "{n} images whose replication to a destination FAILED",
        lambda r: {"destinations": dict(r.delivery.failed_destinations)},
    )
