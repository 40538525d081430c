"""Registry settings of today's ECR that moto 5 lacks, added to the emulator on the server side
(crawler/demo/moto_patches.py installs them), in the shapes of botocore's ECR model:

- Managed signing: PutSigningConfiguration / GetSigningConfiguration (none is
  SigningConfigurationNotFoundException) and DescribeImageSigningStatus. Managed signing "signs
  images as they are pushed" (User Guide), so an image pushed before the configuration has no
  status; one pushed after has a status per profile whose rule covers its repository ("If the
  image matched signing rules that reference different signing profiles, a status is returned
  for each profile"): COMPLETE, or FAILED where the pushing principal may not use the profile
  (`data.UNUSABLE_PROFILES`).
- Repository creation templates: CreateRepositoryCreationTemplate and
  DescribeRepositoryCreationTemplates (`prefixes`, maxResults 1..1000, 100 without it).
- DescribeImageReplicationStatus from moto's own replication rules (PutReplicationConfiguration,
  DescribeRegistry): "Only repository content pushed to a repository after replication is
  configured is replicated" (User Guide), then one status per destination of the covering rule
  (PREFIX_MATCH): COMPLETE in the registry's own account; in another account FAILED unless that
  registry's policy allows ecr:ReplicateImage ("For cross-account replication to occur, the
  destination account must configure a registry permissions policy").

Times are the push clock's (`paced_pushes`), so "pushed before the configuration" holds in the
seed's order. Failure codes are the demo's own: the model gives no values for either."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from crawler.demo.data import UNUSABLE_PROFILES

# DescribeRepositoryCreationTemplatesRequest.maxResults: "This value can be between 1 and
# 1000. If this parameter is not used, then ... returns up to 100 results".
MAX_PAGE, DEFAULT_PAGE = 1000, 100
SIGNING_FAILURE = (
    "SigningProfileAccessDenied",
    "The principal that pushed the image may not use the signing profile.",
)
REPLICATION_FAILURE = "RegistryPolicyDeniesReplication"
AES256 = {"encryptionType": "AES256"}


def install(now: Callable[[], int]) -> None:
    """Add the operations to moto's ECR responses; `now` is the push clock."""
    from moto.ecr.models import ECRBackend
    from moto.ecr.responses import ECRResponse

    answers: dict[str, Callable[[Any], Any]] = {
        "put_signing_configuration": functools.partial(_put_signing, now=now),
        "get_signing_configuration": _get_signing,
        "describe_image_signing_status": _signing_status,
        "create_repository_creation_template": functools.partial(_create_template, now=now),
        "describe_repository_creation_templates": _describe_templates,
        "describe_image_replication_status": _replication_status,
    }
    for name, answer in answers.items():
        setattr(ECRResponse, name, _method(answer))
    put = getattr(
        ECRBackend.put_replication_configuration,
        "__wrapped__",
        ECRBackend.put_replication_configuration,
    )

    @functools.wraps(put)
    def put_replication(self: Any, replication_config: dict[str, Any]) -> Any:
        answer = put(self, replication_config)
        self.__dict__["demo_replicated_since"] = now()
        return answer

    setattr(ECRBackend, "put_replication_configuration", put_replication)  # noqa: B010


def _method(answer: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # A partial is no descriptor: wrapped, it binds to the response like a method.
    def method(self: Any) -> Any:
        return answer(self)

    return method


def _result(answer: dict[str, Any]) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(answer)


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import ServiceException

    error: type[ServiceException] = type(code, (ServiceException,), {"code": code})
    return error(message)


def _settings(backend: Any) -> dict[str, Any]:
    """The region's settings put here; moto's reset drops them with the backend."""
    settings: dict[str, Any] = backend.__dict__.setdefault("demo_registry_settings", {})
    return settings


# -- managed signing ----------------------------------------------------------------------


def _put_signing(self: Any, now: Callable[[], int]) -> Any:
    configuration = self._get_param("signingConfiguration")
    _settings(self.ecr_backend)["signing"] = (configuration, now())
    return _result({"signingConfiguration": configuration})


def _get_signing(self: Any) -> Any:
    signing = _settings(self.ecr_backend).get("signing")
    if signing is None or not signing[0].get("rules"):
        # The exception's documentation in the model, as its message.
        raise _error(
            "SigningConfigurationNotFoundException",
            "The specified signing configuration was not found. This occurs when attempting "
            "to retrieve or delete a signing configuration that does not exist.",
        )
    return _result({"registryId": self.current_account, "signingConfiguration": signing[0]})


def _signing_status(self: Any) -> Any:
    repository, image = _image(self)
    configuration, since = _settings(self.ecr_backend).get("signing", ({}, None))
    profiles: list[str] = []
    if since is not None and image.image_pushed_at >= since:
        for rule in configuration.get("rules", []):
            filters = rule.get("repositoryFilters") or [{"filter": "*"}]
            if any(_wildcard(f["filter"], repository.name) for f in filters):
                profiles.append(rule["signingProfileArn"])
    statuses = [_signing(p) for p in dict.fromkeys(profiles)]
    return _result({**_identity(self, repository, image), "signingStatuses": statuses})


def _signing(profile: str) -> dict[str, Any]:
    if profile not in UNUSABLE_PROFILES:
        return {"signingProfileArn": profile, "status": "COMPLETE"}
    code, reason = SIGNING_FAILURE
    return {
        "signingProfileArn": profile,
        "status": "FAILED",
        "failureCode": code,
        "failureReason": reason,
    }


def _wildcard(pattern: str, name: str) -> bool:
    """SigningRepositoryFilter WILDCARD_MATCH: "the * character matches any sequence"."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), name) is not None


# -- repository creation templates --------------------------------------------------------


def _create_template(self: Any, now: Callable[[], int]) -> Any:
    template = {
        key: value
        for key in (
            "prefix",
            "description",
            "encryptionConfiguration",
            "resourceTags",
            "imageTagMutability",
            "imageTagMutabilityExclusionFilters",
            "repositoryPolicy",
            "lifecyclePolicy",
            "appliedFor",
            "customRoleArn",
        )
        if (value := self._get_param(key)) is not None
    }
    created = now()
    # RepositoryCreationTemplate.imageTagMutability: "If this parameter is omitted, the default
    # setting of MUTABLE will be used"; encryption AES256, as EncryptionConfiguration says of a
    # repository: "By default, when no encryption configuration is set ... an AES256
    # encryption algorithm".
    defaults = {"imageTagMutability": "MUTABLE", "encryptionConfiguration": AES256}
    template = {**defaults, **template}
    template.update(createdAt=created, updatedAt=created)
    _settings(self.ecr_backend).setdefault("templates", {})[template["prefix"]] = template
    return _result({"registryId": self.current_account, "repositoryCreationTemplate": template})


def _describe_templates(self: Any) -> Any:
    from moto.ecr.exceptions import InvalidParameterException

    limit, token = self._get_param("maxResults"), self._get_param("nextToken")
    if limit is not None and not (isinstance(limit, int) and 1 <= limit <= MAX_PAGE):
        raise InvalidParameterException(
            "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have "
            f"value less than or equal to {MAX_PAGE}'"
        )
    if token is not None and not (isinstance(token, str) and token.isdigit()):
        raise InvalidParameterException("Invalid parameter at 'nextToken': invalid token")
    prefixes = self._get_param("prefixes")
    templates = [
        t
        for prefix, t in sorted(_settings(self.ecr_backend).get("templates", {}).items())
        if not prefixes or prefix in prefixes
    ]
    start, size = int(token or 0), limit or DEFAULT_PAGE
    answer: dict[str, Any] = {
        "registryId": self.current_account,
        "repositoryCreationTemplates": templates[start : start + size],
    }
    if start + size < len(templates):
        answer["nextToken"] = str(start + size)
    return _result(answer)


# -- replication status -------------------------------------------------------------------


def _replication_status(self: Any) -> Any:
    from moto.ecr.models import ecr_backends

    backend = self.ecr_backend
    repository, image = _image(self)
    since = backend.__dict__.get("demo_replicated_since")
    destinations: dict[tuple[str, str], None] = {}
    if since is not None and image.image_pushed_at >= since:
        for rule in backend.replication_config.get("rules", []):
            filters = rule.get("repositoryFilters") or [{"filter": ""}]
            if any(repository.name.startswith(f["filter"]) for f in filters):
                destinations.update(
                    {(d["region"], d["registryId"]): None for d in rule["destinations"]}
                )
    statuses = []
    for region, account in destinations:
        status: dict[str, Any] = {"region": region, "registryId": account, "status": "COMPLETE"}
        if account != backend.account_id:
            policy = ecr_backends[account][region].registry_policy or ""
            if "ecr:ReplicateImage" not in policy or backend.account_id not in policy:
                status.update(status="FAILED", failureCode=REPLICATION_FAILURE)
        statuses.append(status)
    answer = _identity(self, repository, image)
    del answer["registryId"]  # DescribeImageReplicationStatusResponse has none
    return _result({**answer, "replicationStatuses": statuses})


def _image(self: Any) -> tuple[Any, Any]:
    """The repository and image the request names (moto's RepositoryNotFoundException and
    ImageNotFoundException otherwise)."""
    backend = self.ecr_backend
    repository = backend._get_repository(
        self._get_param("repositoryName"), self._get_param("registryId")
    )
    image_id = self._get_param("imageId") or {}
    image = repository._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))
    return repository, image


def _identity(self: Any, repository: Any, image: Any) -> dict[str, Any]:
    image_id = self._get_param("imageId") or {}
    return {
        "registryId": repository.registry_id,
        "repositoryName": repository.name,
        "imageId": {**image_id, "imageDigest": image.image_digest},
    }
