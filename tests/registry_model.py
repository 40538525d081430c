"""The registry settings of today's ECR that moto 5 lacks, modelled on the test proxy
(tests/awsproxy.py) with the shapes of botocore's ECR model (service-2.json, 2015-09-21):

- GetSigningConfiguration: "Retrieves the registry's signing configuration, which defines rules
  for automatically signing images using Amazon Web Services Signer." The rules are the test's,
  per region; none is SigningConfigurationNotFoundException ("The specified signing
  configuration was not found. This occurs when attempting to retrieve or delete a signing
  configuration that does not exist.").
- DescribeImageSigningStatus: "Returns the signing status for a specified image. If the image
  matched signing rules that reference different signing profiles, a status is returned for
  each profile." So an image of a repository no rule matches has no status: an empty list.
  Each matched profile's status is COMPLETE unless the test sets the image's (`signing_statuses`,
  by digest): IN_PROGRESS, COMPLETE, FAILED (with failureCode and failureReason, "only present if
  status is FAILED"), or None for no status at all (an image pushed before the rule: managed
  signing "automatically signs images as they are pushed", User Guide).
- DescribeRepositoryCreationTemplates: the test's templates per region, `prefixes` as a filter
  ("If this value is not specified, all repository creation templates are returned"), paged:
  maxResults 1..1000, "If this parameter is not used, then
  DescribeRepositoryCreationTemplatesRequest returns up to 100 results and a nextToken value".
- DescribeImageReplicationStatus: one status per destination of the registry's replication rules
  that cover the image's repository (RepositoryFilter: PREFIX_MATCH, "If no filters are added,
  the contents of all repositories are replicated"); COMPLETE, or FAILED with a failureCode
  ("The failure code for a replication that has failed.") for the one destination the test
  names. The rules are moto's own (DescribeRegistry), unless the test gives a region its rules,
  which DescribeRegistry then answers too.
- Image status ACTIVATING (ImageStatus: ACTIVE, ARCHIVED, ACTIVATING), which moto never reports:
  DescribeImages says it for the digests the test names, before any other model's rewrite (the
  scanning model filters by image status).

The model gives no value list for SigningStatusFailureCode or ReplicationError (plain strings):
the failure codes and reasons here are the tests' own. Both image lookups answer moto's
ImageNotFoundException / RepositoryNotFoundException as ECR would, the model listing both."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from awsproxy import AwsProxy, Call
from awswire import AwsError, Page

ACCOUNT = "123456789012"
# SigningRule.signingProfileArn, as AWS Signer spells a profile ARN (ImageSigningStatus's pattern
# is ^arn:aws(-[a-z]+)*:signer:[a-z0-9-]+:[0-9]{12}:\/signing-profiles\/[a-zA-Z0-9_]{2,}$).
RELEASE_PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ecr_release"
AUDIT_PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ecr_audit"
SIGNING_FAILURE = ("SigningProfileAccessDenied", "The pushing principal may not use the profile.")
REPLICATION_FAILURE = "DestinationRegistryUnreachable"
TEMPLATES = "repositoryCreationTemplates"


def signing_rule(profile: str, *filters: str) -> dict[str, Any]:
    """A SigningRule: the profile, and WILDCARD_MATCH filters ("the * character matches any
    sequence of characters"); without filters, "all images pushed to the registry are signed"."""
    rule: dict[str, Any] = {"signingProfileArn": profile}
    if filters:
        rule["repositoryFilters"] = [{"filter": f, "filterType": "WILDCARD_MATCH"} for f in filters]
    return rule


def replication_rule(destinations: list[tuple[str, str]], *prefixes: str) -> dict[str, Any]:
    """A ReplicationRule: destinations as (region, registryId), PREFIX_MATCH filters."""
    rule: dict[str, Any] = {
        "destinations": [{"region": r, "registryId": a} for r, a in destinations]
    }
    if prefixes:
        rule["repositoryFilters"] = [{"filter": p, "filterType": "PREFIX_MATCH"} for p in prefixes]
    return rule


@dataclass
class RegistryModel:
    """What the tests set; the proxy answers from it (`model_registry`)."""

    signing: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    signing_statuses: Mapping[str, str | None] = field(default_factory=dict)
    templates: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    replication: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (region, registryId) of the destination every replication to fails.
    failed_destination: tuple[str, str] | None = None
    image_statuses: Mapping[str, str] = field(default_factory=dict)
    proxy: AwsProxy | None = None

    def get_signing_configuration(self, call: Call) -> dict[str, Any]:
        rules = self.signing.get(call.region)
        registry = _registry_id(call)
        if not rules:
            raise AwsError(
                "SigningConfigurationNotFoundException",
                f"Signing configuration does not exist in the registry with id '{registry}'",
            )
        return {"registryId": registry, "signingConfiguration": {"rules": rules}}

    def describe_image_signing_status(self, call: Call) -> dict[str, Any]:
        detail = _image(call)
        profiles: list[str] = []
        for rule in self.signing.get(call.region, []):
            filters = rule.get("repositoryFilters") or [{"filter": "*"}]
            matched = any(wildcard(f["filter"], detail["repositoryName"]) for f in filters)
            if matched and rule["signingProfileArn"] not in profiles:
                profiles.append(rule["signingProfileArn"])
        status = self.signing_statuses.get(detail["imageDigest"], "COMPLETE")
        statuses = [] if status is None else [_signing(p, status) for p in profiles]
        return {**_identity(detail, call), "signingStatuses": statuses}

    def describe_repository_creation_templates(self, call: Call) -> dict[str, Any]:
        request = call.request
        cap = self.proxy.page_cap if self.proxy else None
        page = Page.asked(call.operation, call.region, request, (TEMPLATES,), cap)
        prefixes = request.get("prefixes")
        every = self.templates.get(call.region, [])
        templates = [t for t in every if not prefixes or t["prefix"] in prefixes]
        answer = {"registryId": _registry_id(call), TEMPLATES: templates}
        page.cut(answer)
        return answer

    def describe_image_replication_status(self, call: Call) -> dict[str, Any]:
        detail = _image(call)
        destinations: list[tuple[str, str]] = []
        for rule in self._replication_rules(call):
            filters = rule.get("repositoryFilters") or [{"filter": ""}]
            if any(detail["repositoryName"].startswith(f["filter"]) for f in filters):
                for d in rule.get("destinations", []):
                    if (d["region"], d["registryId"]) not in destinations:
                        destinations.append((d["region"], d["registryId"]))
        statuses = []
        for region, registry in destinations:
            status: dict[str, Any] = {"region": region, "registryId": registry}
            if (region, registry) == self.failed_destination:
                status.update(status="FAILED", failureCode=REPLICATION_FAILURE)
            else:
                status["status"] = "COMPLETE"
            statuses.append(status)
        answer = _identity(detail, call)
        answer.pop("registryId")  # DescribeImageReplicationStatusResponse has none
        return {**answer, "replicationStatuses": statuses}

    def describe_registry(
        self, region: str, request: dict[str, Any], reply: dict[str, Any]
    ) -> None:
        if region in self.replication:
            reply["replicationConfiguration"] = {"rules": self.replication[region]}

    def describe_images(self, region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        for detail in reply.get("imageDetails", []):
            if detail["imageDigest"] in self.image_statuses:
                detail["imageStatus"] = self.image_statuses[detail["imageDigest"]]
                # Restoring from the archive: it was archived a day after its push.
                detail["lastArchivedAt"] = detail.get("imagePushedAt", 0) + 86_400

    def _replication_rules(self, call: Call) -> list[dict[str, Any]]:
        if call.region in self.replication:
            return self.replication[call.region]
        rules: list[dict[str, Any]] = (
            call.ask("DescribeRegistry", {}).get("replicationConfiguration", {}).get("rules", [])
        )
        return rules


def model_registry(proxy: AwsProxy, **settings: Any) -> RegistryModel:
    """Install the model on `proxy` with `settings` (RegistryModel's fields); by default no
    signing rules, no templates and moto's replication rules. Call after model_scanning: the
    image statuses are set before its DescribeImages rewrite runs."""
    model = RegistryModel(**settings, proxy=proxy)
    proxy.handlers["GetSigningConfiguration"] = model.get_signing_configuration
    proxy.handlers["DescribeImageSigningStatus"] = model.describe_image_signing_status
    proxy.handlers["DescribeRepositoryCreationTemplates"] = (
        model.describe_repository_creation_templates
    )
    proxy.handlers["DescribeImageReplicationStatus"] = model.describe_image_replication_status
    proxy.rewrites["DescribeRegistry"] = model.describe_registry
    if model.image_statuses:
        after = proxy.rewrites.get("DescribeImages")

        def describe_images(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
            model.describe_images(region, request, reply)
            if after is not None:
                after(region, request, reply)

        proxy.rewrites["DescribeImages"] = describe_images
    return model


def template(prefix: str, **fields: Any) -> dict[str, Any]:
    """A RepositoryCreationTemplate as DescribeRepositoryCreationTemplates answers it: policies
    are JSON text, timestamps epoch seconds."""
    return {
        "prefix": prefix,
        "appliedFor": ["CREATE_ON_PUSH"],
        "imageTagMutability": "MUTABLE",
        "encryptionConfiguration": {"encryptionType": "AES256"},
        "resourceTags": [],
        "createdAt": 1_780_000_000,
        "updatedAt": 1_780_000_000,
        **fields,
    }


def wildcard(pattern: str, name: str) -> bool:
    """SigningRepositoryFilter WILDCARD_MATCH: `*` is any sequence of characters."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), name) is not None


def _signing(profile: str, status: str) -> dict[str, Any]:
    answer = {"signingProfileArn": profile, "status": status}
    if status == "FAILED":
        answer.update(failureCode=SIGNING_FAILURE[0], failureReason=SIGNING_FAILURE[1])
    return answer


def _image(call: Call) -> dict[str, Any]:
    """moto's ImageDetail of the image asked about; its errors are ECR's (ImageNotFound,
    RepositoryNotFound)."""
    request = call.request
    lookup = {"repositoryName": request["repositoryName"], "imageIds": [request["imageId"]]}
    details: list[dict[str, Any]] = call.ask("DescribeImages", lookup)["imageDetails"]
    return details[0]


def _identity(detail: dict[str, Any], call: Call) -> dict[str, Any]:
    return {
        "registryId": detail["registryId"],
        "repositoryName": detail["repositoryName"],
        "imageId": {**call.request["imageId"], "imageDigest": detail["imageDigest"]},
    }


def _registry_id(call: Call) -> str:
    registry: str = call.ask("DescribeRegistry", {}).get("registryId", ACCOUNT)
    return registry
