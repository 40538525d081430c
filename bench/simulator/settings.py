"""The registry settings of today's ECR the simulator answers, in the shapes of botocore's ECR
model (service-2.json, 2015-09-21), as tests/registry_model.py answers them on the test proxy:

- GetSigningConfiguration: the signing rules; none is SigningConfigurationNotFoundException
  ("The specified signing configuration was not found").
- DescribeImageSigningStatus: "If the image matched signing rules that reference different
  signing profiles, a status is returned for each profile": COMPLETE for each profile whose rule
  covers the repository (WILDCARD_MATCH filters; a rule without filters covers every one), [] for
  an image no rule covers.
- DescribeRepositoryCreationTemplates: the templates, `prefixes` as a filter, paged (maxResults
  1..1000, "up to 100 results" without it).
- DescribeRegistry: the replication rules (with the registry id).
- DescribeImageReplicationStatus: one status per destination of the rules that cover the
  repository (PREFIX_MATCH filters; "If no filters are added, the contents of all repositories
  are replicated"), COMPLETE, or FAILED for `failed_destination`.

The images and repositories asked about are the registry's (RepositoryNotFoundException,
ImageNotFoundException). By default nothing is configured, as in a new account;
`SettingsOperations(ecr, RegistrySettings(...))` configures every account-region alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bench.simulator.ecr import Ecr, Result, check_registry, image_not_found
from bench.simulator.registry import Repository
from bench.simulator.wire import ApiError

TEMPLATES = "repositoryCreationTemplates"
# ReplicationError is a plain string in the model; this one is the simulator's own.
REPLICATION_FAILURE = "DestinationRegistryUnreachable"


@dataclass(frozen=True)
class RegistrySettings:
    """What every registry of the scenario has configured (AWS shapes)."""

    signing_rules: tuple[dict[str, Any], ...] = ()
    templates: tuple[dict[str, Any], ...] = ()
    replication_rules: tuple[dict[str, Any], ...] = ()
    # (region, registryId) of the destination every replication to fails.
    failed_destination: tuple[str, str] | None = None


class SettingsOperations:
    """The five operations over one simulator's registry, added to its ECR operations."""

    def __init__(self, ecr: Ecr, settings: RegistrySettings | None = None) -> None:
        self.ecr = ecr
        self.settings = settings or RegistrySettings()
        ecr.operations.update(
            {
                "GetSigningConfiguration": self.get_signing_configuration,
                "DescribeImageSigningStatus": self.describe_image_signing_status,
                "DescribeRepositoryCreationTemplates": self.describe_templates,
                "DescribeRegistry": self.describe_registry,
                "DescribeImageReplicationStatus": self.describe_image_replication_status,
            }
        )

    def get_signing_configuration(
        self, account: str, region: str, payload: dict[str, Any]
    ) -> Result:
        rules = list(self.settings.signing_rules)
        if not rules:
            raise ApiError(
                "SigningConfigurationNotFoundException",
                f"Signing configuration does not exist in the registry with id '{account}'",
            )
        return {"registryId": account, "signingConfiguration": {"rules": rules}}, len(rules)

    def describe_image_signing_status(
        self, account: str, region: str, payload: dict[str, Any]
    ) -> Result:
        repo, answer = self._image(account, region, payload, "DescribeImageSigningStatus")
        profiles: list[str] = []
        for rule in self.settings.signing_rules:
            filters = rule.get("repositoryFilters") or [{"filter": "*"}]
            covered = any(_wildcard(f["filter"], repo.name) for f in filters)
            if covered and rule["signingProfileArn"] not in profiles:
                profiles.append(rule["signingProfileArn"])
        statuses = [{"signingProfileArn": p, "status": "COMPLETE"} for p in profiles]
        return {**answer, "registryId": account, "signingStatuses": statuses}, len(statuses)

    def describe_templates(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        prefixes = payload.get("prefixes")
        templates = [t for t in self.settings.templates if not prefixes or t["prefix"] in prefixes]
        pager = self.ecr.pager
        size = pager.page_size(payload)
        scope = f"DescribeRepositoryCreationTemplates|{account}|{region}|{prefixes}"
        start, _ = pager.cursor(scope, payload)
        page = templates[start : start + size]
        answer: dict[str, Any] = {"registryId": account, TEMPLATES: page}
        if start + size < len(templates):
            answer["nextToken"] = pager.token(scope, (start + size, 0))
        return answer, len(page)

    def describe_registry(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        rules = list(self.settings.replication_rules)
        return {"registryId": account, "replicationConfiguration": {"rules": rules}}, len(rules)

    def describe_image_replication_status(
        self, account: str, region: str, payload: dict[str, Any]
    ) -> Result:
        repo, answer = self._image(account, region, payload, "DescribeImageReplicationStatus")
        destinations: list[tuple[str, str]] = []
        for rule in self.settings.replication_rules:
            filters = rule.get("repositoryFilters") or [{"filter": ""}]
            if any(repo.name.startswith(f["filter"]) for f in filters):
                for d in rule["destinations"]:
                    if (d["region"], d["registryId"]) not in destinations:
                        destinations.append((d["region"], d["registryId"]))
        statuses = [self._replication(*d) for d in destinations]
        return {**answer, "replicationStatuses": statuses}, len(statuses)

    def _replication(self, region: str, registry: str) -> dict[str, Any]:
        status: dict[str, Any] = {"region": region, "registryId": registry, "status": "COMPLETE"}
        if (region, registry) == self.settings.failed_destination:
            status.update(status="FAILED", failureCode=REPLICATION_FAILURE)
        return status

    def _image(
        self, account: str, region: str, payload: dict[str, Any], operation: str
    ) -> tuple[Repository, dict[str, Any]]:
        """The repository and the answer's identity of the image `payload` names."""
        check_registry(payload, account, region, operation)
        repo = self.ecr.find_repository(account, region, payload.get("repositoryName"))
        image_id = payload.get("imageId") or {}
        i = self.ecr.resolve(repo, image_id)
        if i is None:
            raise image_not_found(repo, image_id)
        digest = self.ecr.registry.digest(repo, self.ecr.registry.meta(repo, i))
        return repo, {"repositoryName": repo.name, "imageId": {**image_id, "imageDigest": digest}}


def _wildcard(pattern: str, name: str) -> bool:
    """SigningRepositoryFilter WILDCARD_MATCH: "the * character matches any sequence"."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), name) is not None
