"""What moto 5's ECR lacks and the crawler reads, added to the emulator on the server side:
DescribeImages reports the scan status and findings summary after StartImageScan, and
artifactMediaType and subjectManifestDigest from the manifest; ListImageReferrers answers from
the subjects of the repository's manifests; ListPullTimeUpdateExclusions and
DescribePullThroughCacheRules answer "none"."""

from __future__ import annotations

import json
from typing import Any


def fill_moto_gaps() -> None:
    """Patch moto's ECR models and responses (idempotent: the same attributes every time)."""
    _derive_image_fields()
    _answer_missing_operations()


def _manifest(image: Any) -> dict[str, Any]:
    return json.loads(image.image_manifest)  # type: ignore[no-any-return]


def _derive_image_fields() -> None:
    from moto.ecr.models import Image

    def scanned(image: Any, value: Any) -> Any:
        return value if image.last_scan else None

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
        "artifact_media_type": lambda i: _manifest(i).get("config", {}).get("mediaType"),
    }
    for name, getter in derived.items():
        setattr(Image, name, property(getter))


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
            "artifactType": body.get("artifactType") or body["config"]["mediaType"],
            "size": len(image.image_manifest),
            "annotations": body.get("annotations", {}),
            "artifactStatus": "ACTIVE",
        }
        for image in repository.images
        if (body := _manifest(image)).get("subject", {}).get("digest") == subject
    ]
    return ActionResult({"referrers": referrers})


def _answer_missing_operations() -> None:
    from moto.core.responses import ActionResult
    from moto.ecr.responses import ECRResponse

    answers = {
        "list_image_referrers": _list_image_referrers,
        "list_pull_time_update_exclusions": lambda self: ActionResult(
            {"pullTimeUpdateExclusions": []}
        ),
        "describe_pull_through_cache_rules": lambda self: ActionResult(
            {"pullThroughCacheRules": []}
        ),
    }
    for name, answer in answers.items():
        setattr(ECRResponse, name, answer)
