"""What moto 5's ECR lacks and the crawler reads, added to the emulator on the server side:
DescribeImages reports the scan status and findings summary after StartImageScan (under
Clair-based basic scanning only), and artifactMediaType and subjectManifestDigest from the
manifest; BatchGetImage honours acceptedMediaTypes; ListImageReferrers answers from the subjects
of the repository's manifests;
ListPullTimeUpdateExclusions and DescribePullThroughCacheRules answer "none". Managed signing,
repository creation templates and replication status: crawler/demo/registry_settings.py.

Scanning as today's ECR does it (crawler/demo/scanner.py): GetAccountSetting and
PutAccountSetting, each region's mode from its BASIC_SCAN_TYPE_VERSION and scan type,
BatchGetRepositoryScanningConfiguration from the registry's rules as AWS applies them, and
DescribeImageScanFindings in the AWS-native and enhanced modes. A region nobody configured
scans as moto does (Clair), which is what the tests' proxy builds its own modes on.

`paced_pushes` gives the demo a push history whose order is the seed's."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from crawler.demo import registry_settings
from crawler.demo.scanner import (
    DEFAULT_PAGE,
    ENHANCED_PAGE,
    MAX_NAMES,
    SETTINGS,
    Mode,
    ScannedImage,
    effective,
    mode,
    scan_findings,
    status,
)

# DISF maxResults: "This value can be between 1 and 1000."
MAX_PAGE = 1000
# The next push time paced_pushes gives, and the step to the one after; empty: moto's clock.
_PACE: list[int] = []


def fill_moto_gaps() -> None:
    """Patch moto's ECR models and responses (idempotent: the same attributes every time)."""
    _derive_image_fields()
    _answer_missing_operations()
    _scan_as_configured()
    _stamp_pushes()
    registry_settings.install(_push_clock)


@contextmanager
def paced_pushes(start: int, step: int) -> Iterator[None]:
    """While the block runs, each new image is pushed `step` seconds after the one before, the
    first at `start` (epoch seconds). ECR's push times are whole seconds and the seed pushes
    dozens a second, so "the most recent push" would otherwise change from run to run."""
    _PACE[:] = [start, step]
    try:
        yield
    finally:
        _PACE.clear()


def _push_clock() -> int:
    """When the next image is pushed: the paced clock's next tick, else now."""
    return _PACE[0] if _PACE else int(time.time())


def _manifest(image: Any) -> dict[str, Any]:
    return json.loads(image.image_manifest)  # type: ignore[no-any-return]


def _derive_image_fields() -> None:
    from moto.ecr.models import Image

    def scanned(image: Any, value: Any) -> Any:
        # DescribeImages marks the images it describes where results live elsewhere.
        elsewhere = getattr(image, "scan_results_elsewhere", False)
        return value if image.last_scan and not elsewhere else None

    derived = {
        "image_scan_status": lambda i: scanned(
            i, {"status": "COMPLETE", "description": "The scan was completed."}
        ),
        "image_scan_findings_summary": lambda i: scanned(
            i,
            {
                "imageScanCompletedAt": i.last_scan,
                "vulnerabilitySourceUpdatedAt": i.last_scan,
                "findingSeverityCounts": {"HIGH": 1},  # what moto's findings hold
            },
        ),
        "subject_manifest_digest": lambda i: _manifest(i).get("subject", {}).get("digest"),
        "artifact_media_type": _artifact_media_type,
    }
    for name, getter in derived.items():
        setattr(Image, name, property(getter))


def _artifact_media_type(image: Any) -> str | None:
    """An artifact's type as the OCI specs define it: the manifest's artifactType, which "MUST
    be defined" when the config is the empty descriptor (image-spec, manifest), else the config's
    media type (distribution-spec, referrers API: "the artifactType ... if present, or else the
    config.mediaType"). A cosign or Notation signature pushed as an OCI 1.1 referrer has an empty
    config: its config's media type would hide that it is a signature."""
    manifest = _manifest(image)
    artifact: str | None = manifest.get("artifactType") or manifest.get("config", {}).get(
        "mediaType"
    )
    return artifact


def _list_image_referrers(self: Any) -> Any:
    from moto.core.responses import ActionResult

    repository = self.ecr_backend._get_repository(
        self._get_param("repositoryName"), self._get_param("registryId")
    )
    subject = self._get_param("subjectId")["imageDigest"]
    referrers = [
        {
            "digest": image.image_digest,
            "mediaType": image.image_manifest_media_type,
            "artifactType": body.get("artifactType") or body.get("config", {}).get("mediaType"),
            "size": len(image.image_manifest),
            "annotations": body.get("annotations", {}),
            "artifactStatus": "ACTIVE",
        }
        for image in repository.images
        if (body := _manifest(image)).get("subject", {}).get("digest") == subject
    ]
    return ActionResult({"referrers": referrers})


def _batch_get_image(self: Any) -> Any:
    """moto's answer, where a manifest whose type the caller does not accept is a failure, as
    on ECR when asked by digest ("If you pull an image by digest, there is no translation
    available": userguide, image manifest conversion); moto ignores acceptedMediaTypes."""
    from moto.core.responses import ActionResult

    param = self._get_param
    answer: dict[str, Any] = self.ecr_backend.batch_get_image(
        param("repositoryName"), param("registryId"), param("imageIds")
    )
    accepted = self._get_param("acceptedMediaTypes")
    if accepted:
        refused = [i for i in answer["images"] if i.image_manifest_media_type not in accepted]
        answer["images"] = [i for i in answer["images"] if i not in refused]
        answer["failures"] += [
            {
                "imageId": {"imageDigest": image.image_digest},
                "failureCode": "UnsupportedImageType",
                "failureReason": f"Manifest media type {image.image_manifest_media_type} is not "
                "among the accepted media types",
            }
            for image in refused
        ]
    return ActionResult(answer)


def _answer_missing_operations() -> None:
    from moto.core.responses import ActionResult
    from moto.ecr.responses import ECRResponse

    answers = {
        "batch_get_image": _batch_get_image,
        "list_image_referrers": _list_image_referrers,
        "list_pull_time_update_exclusions": lambda self: ActionResult(
            {"pullTimeUpdateExclusions": []}
        ),
        "describe_pull_through_cache_rules": lambda self: ActionResult(
            {"pullThroughCacheRules": []}
        ),
        "get_account_setting": _get_account_setting,
        "put_account_setting": _put_account_setting,
    }
    for name, answer in answers.items():
        setattr(ECRResponse, name, answer)


def _account_settings(backend: Any) -> dict[str, str]:
    """The region's account settings that were put; moto's reset drops them with the backend."""
    settings: dict[str, str] = backend.__dict__.setdefault("demo_account_settings", {})
    return settings


def _setting_name(name: Any) -> str:
    from moto.ecr.exceptions import ValidationException

    if name not in SETTINGS:
        raise ValidationException(f"Invalid account setting name: {name}")
    return str(name)


def _get_account_setting(self: Any) -> Any:
    from moto.core.responses import ActionResult

    name = _setting_name(self._get_param("name"))
    value = _account_settings(self.ecr_backend).get(name, SETTINGS[name][0])
    return ActionResult({"name": name, "value": value})


def _put_account_setting(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.ecr.exceptions import ValidationException

    name, value = _setting_name(self._get_param("name")), self._get_param("value")
    if value not in SETTINGS[name][1]:
        raise ValidationException(f"Invalid value for account setting {name}: {value}")
    _account_settings(self.ecr_backend)[name] = value
    return ActionResult({"name": name, "value": value})


def _mode(backend: Any) -> Mode:
    basic_version = _account_settings(backend).get("BASIC_SCAN_TYPE_VERSION", "CLAIR")
    return mode(backend.registry_scanning_configuration.get("scanType", "BASIC"), basic_version)


def _scan_as_configured() -> None:
    from moto.ecr.responses import ECRResponse

    # The unpatched method, however often this runs.
    describe = getattr(ECRResponse.describe_images, "__wrapped__", ECRResponse.describe_images)

    @functools.wraps(describe)
    def describe_images(self: Any) -> Any:
        """moto's answer, without scan results outside Clair-based basic scanning."""
        answer: Any = describe(self)
        if _mode(self.ecr_backend) != "CLAIR":
            for detail in answer.result["imageDetails"]:  # copies of moto's images
                detail.scan_results_elsewhere = True
        return answer

    answers = {
        "describe_images": describe_images,
        "describe_image_scan_findings": _describe_image_scan_findings,
        "batch_get_repository_scanning_configuration": _repository_scanning,
    }
    for name, answer in answers.items():
        setattr(ECRResponse, name, answer)


def _describe_image_scan_findings(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.ecr.exceptions import ScanNotFoundException

    backend, scan_mode = self.ecr_backend, _mode(self.ecr_backend)
    name, registry_id = self._get_param("repositoryName"), self._get_param("registryId")
    image_id = self._get_param("imageId") or {}
    if scan_mode == "CLAIR":
        return ActionResult(backend.describe_image_scan_findings(registry_id, name, image_id))
    repository = backend._get_repository(name, registry_id)
    image = repository._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))
    about = ScannedImage(
        registry_id=repository.registry_id,
        region=self.region,
        repository=name,
        digest=image.image_digest,
        tags=list(image.image_tags),
        manifest=_manifest(image),
    )
    scan_status = status(scan_mode, about, scanned=image.last_scan is not None)
    if scan_status is None:
        digest, tag = image_id.get("imageDigest") or "null", image_id.get("imageTag") or "null"
        raise ScanNotFoundException(
            f"{{imageDigest:'{digest}', imageTag:'{tag}'}}", name, repository.registry_id
        )
    start, size = _findings_page(self, scan_mode)
    # Continuous scanning scanned the image when it was pushed; basic scanning when asked.
    completed = image.image_pushed_at if scan_mode == "ENHANCED" else image.last_scan
    return ActionResult(
        {
            "registryId": repository.registry_id,
            "repositoryName": name,
            "imageId": {**image_id, "imageDigest": image.image_digest},
            **scan_findings(scan_mode, about, scan_status, completed, start, size),
        }
    )


def _findings_page(self: Any, scan_mode: Mode) -> tuple[int, int]:
    """Where DISF's page starts (nextToken) and how many findings it holds at most."""
    from moto.ecr.exceptions import InvalidParameterException

    limit, token = self._get_param("maxResults"), self._get_param("nextToken")
    if limit is not None and not (isinstance(limit, int) and 1 <= limit <= MAX_PAGE):
        raise InvalidParameterException(
            f"Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have "
            f"value less than or equal to {MAX_PAGE}'"
        )
    if token is not None and not (isinstance(token, str) and token.isdigit()):
        raise InvalidParameterException("Invalid parameter at 'nextToken': invalid token")
    size = limit or DEFAULT_PAGE
    return int(token or 0), min(size, ENHANCED_PAGE) if scan_mode == "ENHANCED" else size


def _repository_scanning(self: Any) -> Any:
    """Each repository's effective scanning from the registry's rules as they are now (moto
    applies them only when a rule or a repository is created, and never sets scanOnPush)."""
    from moto.core.responses import ActionResult
    from moto.ecr.exceptions import InvalidParameterException

    names = self._get_param("repositoryNames")
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_NAMES:
        raise InvalidParameterException(
            "Invalid parameter at 'repositoryNames' failed to satisfy constraint: "
            f"'Member must have length less than or equal to {MAX_NAMES}'"
        )
    backend = self.ecr_backend
    rules = backend.registry_scanning_configuration.get("rules", [])
    found = [backend.repositories[n] for n in names if n in backend.repositories]
    return ActionResult(
        {
            "scanningConfigurations": [
                {"repositoryArn": r.arn, "repositoryName": r.name, **effective(r.name, rules)}
                for r in found
            ],
            "failures": [
                {
                    "repositoryName": n,
                    "failureCode": "REPOSITORY_NOT_FOUND",
                    "failureReason": f"The repository with name '{n}' does not exist in the "
                    f"registry with id '{backend.account_id}'",
                }
                for n in names
                if n not in backend.repositories
            ],
        }
    )


def _stamp_pushes() -> None:
    from moto.ecr.models import ECRBackend

    put = getattr(ECRBackend.put_image, "__wrapped__", ECRBackend.put_image)

    @functools.wraps(put)
    def put_image(self: Any, repository_name: str, *args: Any, **kwargs: Any) -> Any:
        repository = self.repositories.get(repository_name)
        before = {id(i) for i in repository.images} if repository else set()
        image = put(self, repository_name, *args, **kwargs)
        if _PACE and id(image) not in before:  # a new image, not a new tag on one
            image.image_pushed_at = _PACE[0]
            _PACE[0] += _PACE[1]
        return image

    setattr(ECRBackend, "put_image", put_image)  # noqa: B010 - mypy: no assigning to a method
