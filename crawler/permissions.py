"""`ecr-crawler permissions`: AWS's "test connectivity" steps as one command. Proves the
credentials, then tries each action the config needs, once, in every configured region, and says
exactly which IAM actions are missing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal

import msgspec

from crawler.aws.call import CallStats
from crawler.aws.client import RegionClient, open_region_client
from crawler.aws.credentials import Session, new_session, read_credentials
from crawler.aws.names import method_name
from crawler.aws.scope import open_scope
from crawler.config import Config
from crawler.ecr.images import ALL_IMAGES
from crawler.errors import (
    AccessDeniedError,
    AwsError,
    CredentialsError,
    NotFoundError,
    RegionDisabledError,
)
from crawler.media_types import ACCEPTED_MEDIA_TYPES
from crawler.policy import ecr_actions

Status = Literal["ok", "denied", "not enabled", "error", "skipped"]
# botocore's credential provider names, as a person would say them.
SOURCES = {
    "env": "environment variables",
    "shared-credentials-file": "shared credentials file (profile)",
    "config-file": "AWS config file (profile)",
    "assume-role": "assumed role (profile)",
    "assume-role-with-web-identity": "web identity (OIDC)",
    "container-role": "container role",
    "iam-role": "instance role",
    "sso": "IAM Identity Center (SSO)",
    "custom-process": "credential process",
    "explicit": "explicit keys",
}
LONG_LIVED_SOURCES = {"env", "shared-credentials-file", "config-file", "explicit"}
# The actions without which the scan (or its manifests) finds nothing; the others leave a field
# null with an optional error record.
REQUIRED = frozenset({"ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:BatchGetImage"})
# The actions tried on an image, and those tried on a repository (its images' too).
ON_AN_IMAGE = frozenset(
    {
        "ecr:BatchGetImage",
        "ecr:ListImageReferrers",
        "ecr:DescribeImageScanFindings",
        "ecr:DescribeImageSigningStatus",
        "ecr:DescribeImageReplicationStatus",
    }
)
ON_A_REPOSITORY = ON_AN_IMAGE | {
    "ecr:DescribeImages",
    "ecr:BatchGetRepositoryScanningConfiguration",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
}


class Probe(msgspec.Struct, frozen=True):
    action: str
    region: str
    status: Status
    required: bool
    detail: str = ""


class Report(msgspec.Struct, frozen=True):
    account_id: str
    principal: str
    credentials: str
    warnings: list[str]
    probes: list[Probe]
    missing_actions: list[str]

    @property
    def exit_code(self) -> int:
        return 1 if any(p.status in ("denied", "error") for p in self.probes) else 0

    def policy_statement(self) -> dict[str, Any]:
        return {
            "Sid": "EcrCrawlerMissing",
            "Effect": "Allow",
            "Action": self.missing_actions,
            "Resource": "*",
        }


async def probe_permissions(config: Config, base: Session | None = None) -> Report:
    """Raises CredentialsError (exit 3) when credentials are missing or rejected."""
    base = base or new_session()
    credentials = await read_credentials(base)
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where a role is available"
        )
    method = "assume-role" if config.auth.role_arn else credentials.method
    scope = await open_scope(config, base, accounts=False)
    warnings = []
    if credentials.method in LONG_LIVED_SOURCES and credentials.access_key.startswith("AKIA"):
        warnings.append(
            f"long-lived access keys ({credentials.access_key[:4]}... from "
            f"{SOURCES.get(credentials.method, credentials.method)}) are in use: where the "
            "crawler runs in AWS or CI, a role (instance, container, or OIDC web identity) "
            "avoids storing keys"
        )
    identity = scope.identity
    detail = f"{identity.arn} via {SOURCES.get(method, method)}"
    probes = [Probe("sts:GetCallerIdentity", "-", "ok", True, detail)]
    stats = CallStats()
    for region in scope.regions:
        async with open_region_client(
            scope.session, config, identity.account_id, region, stats
        ) as client:
            probes += await _region(client, ecr_actions(config))
    missing = sorted({p.action for p in probes if p.status == "denied"})
    return Report(identity.account_id, identity.arn, method, warnings, probes, missing)


class _Prober:
    def __init__(self, region: str) -> None:
        self.region = region
        self.probes: list[Probe] = []
        self.disabled = False

    async def __call__(
        self, action: str, call: Callable[[], Awaitable[dict[str, Any]]], required: bool = True
    ) -> dict[str, Any] | None:
        """Run one call; a "not found" answer still proves the permission."""
        if self.disabled:
            self.probes.append(Probe(action, self.region, "skipped", required, "region off"))
            return None
        try:
            reply = await call()
        except NotFoundError as exc:
            self.probes.append(Probe(action, self.region, "ok", required, exc.code))
            return {}
        except AccessDeniedError as exc:
            self.probes.append(Probe(action, self.region, "denied", required, exc.message))
        except RegionDisabledError:
            self.disabled = True
            detail = "opt-in region not enabled for this account"
            self.probes.append(Probe(action, self.region, "not enabled", required, detail))
        except AwsError as exc:
            detail = f"{exc.code}: {exc.message}"
            self.probes.append(Probe(action, self.region, "error", required, detail))
        else:
            self.probes.append(Probe(action, self.region, "ok", required))
            return reply
        return None

    def skip(self, action: str, required: bool, why: str) -> None:
        self.probes.append(Probe(action, self.region, "skipped", required, why))


async def _region(client: RegionClient, needed: list[str]) -> list[Probe]:
    """Each action in `needed`, in its order, tried on the first repository and image found."""
    probe = _Prober(client.region)
    listed = await probe(
        "ecr:DescribeRepositories",
        lambda: client.call("describe_repositories", registryId=client.account_id, maxResults=1),
    )
    repository = next(iter((listed or {}).get("repositories", [])), None)
    digest = None
    if repository is not None:
        ids = {k: repository[k] for k in ("registryId", "repositoryName")}
        described = await probe(
            "ecr:DescribeImages",
            lambda: client.call("describe_images", **ids, maxResults=1, filter=ALL_IMAGES),
        )
        images = (described or {}).get("imageDetails", [])
        digest = images[0]["imageDigest"] if images else None
    calls = _calls(client, repository or {}, digest)
    tried = {p.action for p in probe.probes}  # to find a repository and an image
    for action in needed:
        if action in tried:
            continue
        required = action in REQUIRED
        if repository is None and action in ON_A_REPOSITORY:
            probe.skip(action, required, "no repository to try it on")
        elif digest is None and action in ON_AN_IMAGE:
            probe.skip(action, required, "no image to try it on")
        else:
            call = calls.get(action, partial(client.call, method_name(action)))
            await probe(action, call, required)
    return probe.probes


def _calls(
    client: RegionClient, repository: dict[str, Any], digest: str | None
) -> dict[str, Callable[[], Awaitable[dict[str, Any]]]]:
    """The calls that try an action on the repository and image found; an action not here
    is tried with no parameters."""
    ids = {k: repository.get(k) for k in ("registryId", "repositoryName")}
    image = {"imageDigest": digest}
    return {
        "ecr:BatchGetImage": partial(
            client.call,
            "batch_get_image",
            **ids,
            imageIds=[image],
            acceptedMediaTypes=ACCEPTED_MEDIA_TYPES,
        ),
        "ecr:ListImageReferrers": partial(
            client.call, "list_image_referrers", **ids, subjectId=image, maxResults=1
        ),
        "ecr:DescribeImageScanFindings": partial(
            client.call, "describe_image_scan_findings", **ids, imageId=image, maxResults=1
        ),
        "ecr:BatchGetRepositoryScanningConfiguration": partial(
            client.call,
            "batch_get_repository_scanning_configuration",
            repositoryNames=[ids["repositoryName"]],
        ),
        "ecr:GetLifecyclePolicy": partial(client.call, "get_lifecycle_policy", **ids),
        "ecr:GetRepositoryPolicy": partial(client.call, "get_repository_policy", **ids),
        "ecr:ListTagsForResource": partial(
            client.call, "list_tags_for_resource", resourceArn=repository.get("repositoryArn")
        ),
        "ecr:DescribeImageSigningStatus": partial(
            client.call, "describe_image_signing_status", **ids, imageId=image
        ),
        "ecr:DescribeImageReplicationStatus": partial(
            client.call, "describe_image_replication_status", **ids, imageId=image
        ),
        # The setting the scan reads first; any name would prove the permission.
        "ecr:GetAccountSetting": partial(
            client.call, "get_account_setting", name="BASIC_SCAN_TYPE_VERSION"
        ),
    }
