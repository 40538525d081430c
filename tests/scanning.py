"""How ECR scans images today, modelled on the test proxy (tests/awsproxy.py) over moto, which
knows only the old behaviour: one of three modes per region.

- CLAIR: the Clair-based basic scanning, moto's own behaviour. DescribeImages carries each
  scanned image's imageScanStatus and imageScanFindingsSummary; DescribeImageScanFindings (DISF)
  answers for scanned images, ScanNotFoundException for the others.
- AWS_NATIVE: the AWS-native basic scanning. DescribeImages' documentation (botocore's ECR
  model): "The new version of Amazon ECR Basic Scanning doesn't use the
  ImageDetail$imageScanFindingsSummary and ImageDetail$imageScanStatus attributes from the API
  response to return scan results. Use the DescribeImageScanFindings API instead." DISF gives
  status COMPLETE and the basic findings for the images moto scanned.
- ENHANCED: Amazon Inspector, continuous scanning of every repository. DescribeImages never had
  the two fields (aws/containers-roadmap#1662). Continuous scanning covers every runnable image,
  scanned by moto or not: DISF answers ACTIVE ("Continuous scan is selected for image.") with
  `enhancedFindings` in the Inspector shape. An image index, or an artifact that is not a
  runnable image (a signature, an attestation), is UNSUPPORTED_IMAGE: Inspector scans operating
  system and language packages of image layers, which those do not have.

`statuses` forces an image's ScanStatus (by digest) in every mode: DISF reports it, without
findings or severity counts unless it is COMPLETE or ACTIVE, and in CLAIR mode DescribeImages
too. IMAGE_ARCHIVED also archives the image, which moto cannot: DescribeImages reports
imageStatus ARCHIVED and, as AWS does, lists it only when the filter asks for archived images.

`scan_truth` is what a correct crawler must record for each image, computed from moto's state
with the same model.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal

from awsproxy import ECR_TARGET_PREFIX, AwsProxy, Call
from awswire import JSON_TYPE, AwsError
from conftest import ACCESS_KEY
from scanfindings import (
    DESCRIPTIONS,
    MOTO_FINDING,
    WITH_FINDINGS,
    counts,
    findings,
    may_have_result,
    runnable,
)

Mode = Literal["CLAIR", "AWS_NATIVE", "ENHANCED"]
Ask = Callable[[str, dict[str, Any]], dict[str, Any]]
Result = tuple[str | None, dict[str, int] | None]

SETTINGS = {"REGISTRY_POLICY_SCOPE": "V2", "BLOB_MOUNTING": "DISABLED"}
# RegistryScanningRule: "When the ENHANCED scan type is specified, the supported scan
# frequencies are CONTINUOUS_SCAN and SCAN_ON_PUSH"; the console's default is "all of your
# repositories are continuously scanned" (User Guide, enhanced scanning).
ENHANCED_CONFIGURATION: dict[str, Any] = {
    "scanType": "ENHANCED",
    "rules": [
        {
            "scanFrequency": "CONTINUOUS_SCAN",
            "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
        }
    ],
}
# BatchGetRepositoryScanningConfiguration: ScanningConfigurationRepositoryNameList max 25.
MAX_NAMES = 25
# The proxies with a model installed, for scan_truth.
_MODELS: weakref.WeakKeyDictionary[AwsProxy, _Model] = weakref.WeakKeyDictionary()


def model_scanning(
    proxy: AwsProxy, modes: dict[str, Mode], *, statuses: dict[str, str] | None = None
) -> None:
    """Install the scanning modes (region -> mode) on `proxy`, with `statuses` (digest ->
    ScanStatus) forced. A region not listed is moto's own scanning: Clair's, unless the test
    set moto's account setting (GetAccountSetting then answers moto's)."""
    model = _Model(modes, statuses or {})
    _MODELS[proxy] = model
    proxy.handlers["GetAccountSetting"] = model.get_account_setting
    proxy.rewrites["GetRegistryScanningConfiguration"] = model.registry_scanning
    proxy.handlers["BatchGetRepositoryScanningConfiguration"] = model.repository_scanning
    proxy.rewrites["DescribeImages"] = model.describe_images
    proxy.rewrites["ListImages"] = model.list_images
    proxy.handlers["DescribeImageScanFindings"] = model.describe_image_scan_findings


def scan_truth(target: AwsProxy | str, regions: Sequence[str]) -> dict[str, Result]:
    """digest -> (scan status, severity counts) a correct crawler records for every image of
    `regions`: in CLAIR mode what DescribeImages says; in the other modes DISF's answer, or
    (None, None) for ScanNotFoundException and for an image DescribeImages itself shows cannot
    have a result (an index, a referrer artifact, an artifact config), which no crawler should
    ask about. Archived images (index or not) are IMAGE_ARCHIVED in every mode: ScanStatus's own
    value for them, known without asking. `target`: a proxy (its model, if installed) or moto's
    URL (CLAIR everywhere)."""
    if isinstance(target, AwsProxy):
        url, model = target.upstream, _MODELS.get(target)
        if model is not None and target.handlers.get("DescribeImageScanFindings") != (
            model.describe_image_scan_findings
        ):
            model = None  # the proxy was reset since
    else:
        url, model = target, None
    model = model or _Model({}, {})
    truth: dict[str, Result] = {}
    for region in regions:
        ask = _moto(url, region)
        for repo in ask("DescribeRepositories", {})["repositories"]:
            name = repo["repositoryName"]
            request = {"repositoryName": name, "filter": {"tagStatus": "ANY", "imageStatus": "ANY"}}
            reply = ask("DescribeImages", request)
            model.describe_images(region, request, reply)
            for detail in reply["imageDetails"]:
                truth[detail["imageDigest"]] = model.result(region, detail, ask)
    return truth


class _Model:
    """The proxy's answers for one set of modes and forced statuses."""

    def __init__(self, modes: dict[str, Mode], statuses: dict[str, str]) -> None:
        self.modes = modes
        self.statuses = statuses

    def mode(self, region: str) -> Mode:
        return self.modes.get(region, "CLAIR")

    def get_account_setting(self, call: Call) -> dict[str, Any]:
        """GetAccountSettingResponse.value: "Valid value for basic scan type: AWS_NATIVE. Valid
        values for registry policy scope: V2. Valid values for blob mounting: ENABLED or
        DISABLED." Enhanced registries are on the AWS-native basic version too. A region not in
        `modes` is moto's: its own answer where it has the operation, else Clair's."""
        name = call.request.get("name")
        if call.region not in self.modes:
            try:
                return call.ask("GetAccountSetting", call.request)
            except AwsError as error:
                if error.status < 500:
                    raise
        if name == "BASIC_SCAN_TYPE_VERSION":
            value = "CLAIR" if self.mode(call.region) == "CLAIR" else "AWS_NATIVE"
        elif name in SETTINGS:
            value = SETTINGS[name]
        else:
            raise AwsError("ValidationException", f"Invalid account setting name: {name}")
        return {"name": name, "value": value}

    def registry_scanning(
        self, region: str, request: dict[str, Any], reply: dict[str, Any]
    ) -> None:
        if self.mode(region) == "ENHANCED":
            reply["scanningConfiguration"] = json.loads(json.dumps(ENHANCED_CONFIGURATION))

    def repository_scanning(self, call: Call) -> dict[str, Any]:
        """Each repository's effective scanning, from the registry's rules as AWS applies them
        (moto applies them only when a rule or repository is created, by substring or prefix,
        and never sets scanOnPush)."""
        names = call.request.get("repositoryNames")
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_NAMES:
            raise AwsError(
                "InvalidParameterException",
                "Invalid parameter at 'repositoryNames' failed to satisfy constraint: "
                f"'Member must have length less than or equal to {MAX_NAMES}'",
            )
        found = call.ask("BatchGetRepositoryScanningConfiguration", {"repositoryNames": names})
        if self.mode(call.region) == "ENHANCED":
            rules = ENHANCED_CONFIGURATION["rules"]
        else:
            configuration = call.ask("GetRegistryScanningConfiguration", {})
            rules = configuration.get("scanningConfiguration", {}).get("rules", [])
        failures = found.get("failures", [])
        registry = call.ask("DescribeRegistry", {})["registryId"] if failures else ""
        return {
            "scanningConfigurations": [
                {
                    "repositoryArn": item["repositoryArn"],
                    "repositoryName": item["repositoryName"],
                    **_effective(item["repositoryName"], rules),
                }
                for item in found.get("scanningConfigurations", [])
            ],
            "failures": [
                {
                    "repositoryName": f["repositoryName"],
                    "failureCode": "REPOSITORY_NOT_FOUND",
                    "failureReason": f"The repository with name '{f['repositoryName']}' does "
                    f"not exist in the registry with id '{registry}'",
                }
                for f in failures
            ],
        }

    def describe_images(self, region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        wanted = _image_status_filter(request)
        kept = []
        for detail in reply.get("imageDetails", []):
            forced = self.statuses.get(detail["imageDigest"])
            if forced == "IMAGE_ARCHIVED":
                detail["imageStatus"] = "ARCHIVED"
                detail["lastArchivedAt"] = detail.get("imagePushedAt", 0) + 86_400
            if wanted not in ("ANY", detail.get("imageStatus", "ACTIVE")):
                continue
            kept.append(detail)
            if self.mode(region) != "CLAIR":  # the DescribeImages note (module docstring)
                detail.pop("imageScanStatus", None)
                detail.pop("imageScanFindingsSummary", None)
            elif forced is not None:
                _force_in_detail(detail, forced)
        reply["imageDetails"] = kept

    def list_images(self, region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        wanted = _image_status_filter(request)
        if wanted != "ANY":
            reply["imageIds"] = [
                i
                for i in reply.get("imageIds", [])
                if (self.statuses.get(i.get("imageDigest", "")) == "IMAGE_ARCHIVED")
                == (wanted == "ARCHIVED")
            ]

    def describe_image_scan_findings(self, call: Call) -> dict[str, Any]:
        """DISF's whole answer (the proxy pages its findings); see the module's docstring."""
        request = call.request
        image_id = request.get("imageId") or {}
        detail = call.ask(
            "DescribeImages", {"repositoryName": request["repositoryName"], "imageIds": [image_id]}
        )["imageDetails"][0]
        return self.scan(call.region, detail, image_id, call.ask)

    def scan(
        self, region: str, detail: dict[str, Any], image_id: dict[str, Any], ask: Ask
    ) -> dict[str, Any]:
        """DISF's answer for the image of `detail` (as moto describes it)."""
        digest, repository = detail["imageDigest"], detail["repositoryName"]
        forced = self.statuses.get(digest)
        if detail.get("imageStatus") == "ARCHIVED":
            forced = "IMAGE_ARCHIVED"
        mode = self.mode(region)
        moto = _moto_scan(ask, repository, digest)
        base = {
            "registryId": detail["registryId"],
            "repositoryName": repository,
            "imageId": {**image_id, "imageDigest": digest},
        }
        if forced is None and mode == "ENHANCED":
            forced = "ACTIVE" if _runnable(ask, repository, digest) else "UNSUPPORTED_IMAGE"
        if forced is None:
            if moto is None:
                raise _scan_not_found(detail, image_id)
            if mode == "CLAIR":
                return moto
            forced = "COMPLETE"
        answer = {
            **base,
            "imageScanStatus": {"status": forced, "description": DESCRIPTIONS[forced]},
        }
        if forced in WITH_FINDINGS:
            answer["imageScanFindings"] = findings(mode == "ENHANCED", detail, moto, region)
        return answer

    def result(self, region: str, detail: dict[str, Any], ask: Ask) -> Result:
        """The truth for one image (scan_truth), `detail` as the client sees it."""
        if detail.get("imageStatus") == "ARCHIVED":
            return "IMAGE_ARCHIVED", None
        if self.mode(region) == "CLAIR":
            status = detail.get("imageScanStatus")
            summary = detail.get("imageScanFindingsSummary")
            return (
                status["status"] if status else None,
                summary.get("findingSeverityCounts") if summary else None,
            )
        if not may_have_result(detail):
            return None, None
        try:
            answer = self.scan(region, detail, {"imageDigest": detail["imageDigest"]}, ask)
        except AwsError as error:
            if error.code == "ScanNotFoundException":
                return None, None
            raise
        found = answer.get("imageScanFindings")
        return answer["imageScanStatus"]["status"], (
            found.get("findingSeverityCounts") if found else None
        )


def _effective(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A repository's scanning under the registry's rules: a continuous rule wins over scan on
    push; no matching rule is MANUAL ("If scan on push is not specified, then the MANUAL scan
    frequency is set by default.")."""
    best: tuple[int, str, list[dict[str, Any]]] = (0, "MANUAL", [])
    rank = {"SCAN_ON_PUSH": 1, "CONTINUOUS_SCAN": 2}
    for rule in rules:
        frequency = rule.get("scanFrequency", "MANUAL")
        matching = [f for f in rule.get("repositoryFilters", []) if _matches(f["filter"], name)]
        if matching and rank.get(frequency, 0) > best[0]:
            best = (rank.get(frequency, 0), frequency, matching)
    _, frequency, filters = best
    # Continuous scanning scans each image on push too.
    return {
        "scanOnPush": frequency != "MANUAL",
        "scanFrequency": frequency,
        "appliedScanFilters": filters,
    }


def _matches(pattern: str, name: str) -> bool:
    """User Guide, enhanced scanning filters: "Filters with no wildcard will match all
    repository names that contain the filter. Filters with wildcards (*) match on a repository
    name where the wildcard replaces zero or more characters in the repository name." """
    if "*" not in pattern:
        return pattern in name
    head, *middle, tail = pattern.split("*")
    if not (name.startswith(head) and name.endswith(tail)) or len(name) < len(head + tail):
        return False
    position, end = len(head), len(name) - len(tail)
    for part in middle:
        found = name.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _image_status_filter(request: dict[str, Any]) -> str:
    """DescribeImagesFilter.imageStatus: "If not specified, only images with ACTIVE status are
    returned." Lookups by imageIds find an image whatever its status."""
    if "imageIds" in request:
        return "ANY"
    return str((request.get("filter") or {}).get("imageStatus", "ACTIVE"))


def _force_in_detail(detail: dict[str, Any], status: str) -> None:
    detail["imageScanStatus"] = {"status": status, "description": DESCRIPTIONS[status]}
    if status not in WITH_FINDINGS:
        detail.pop("imageScanFindingsSummary", None)
    elif "imageScanFindingsSummary" not in detail:
        pushed = detail.get("imagePushedAt")
        detail["imageScanFindingsSummary"] = {
            "imageScanCompletedAt": pushed,
            "vulnerabilitySourceUpdatedAt": pushed,
            "findingSeverityCounts": counts([MOTO_FINDING]),
        }


def _runnable(ask: Ask, repository: str, digest: str) -> bool:
    reply = ask(
        "BatchGetImage", {"repositoryName": repository, "imageIds": [{"imageDigest": digest}]}
    )
    images = reply.get("images", [])
    return bool(images) and runnable(json.loads(images[0]["imageManifest"]))


def _moto_scan(ask: Ask, repository: str, digest: str) -> dict[str, Any] | None:
    """moto's DISF answer, every finding on one page; None when moto never scanned it."""
    try:
        return ask(
            "DescribeImageScanFindings",
            {"repositoryName": repository, "imageId": {"imageDigest": digest}},
        )
    except AwsError as error:
        if error.code == "ScanNotFoundException":
            return None
        raise


def _scan_not_found(detail: dict[str, Any], image_id: dict[str, Any]) -> AwsError:
    digest, tag = image_id.get("imageDigest") or "null", image_id.get("imageTag") or "null"
    return AwsError(
        "ScanNotFoundException",
        f"Image scan does not exist for the image with '{{imageDigest:'{digest}', "
        f"imageTag:'{tag}'}}' in the repository with name '{detail['repositoryName']}' in the "
        f"registry with id '{detail['registryId']}'",
    )


def _moto(url: str, region: str) -> Ask:
    """ECR calls straight to moto in `region`, with the tests' keys (moto checks no signature)."""

    def ask(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{url}/",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "X-Amz-Target": ECR_TARGET_PREFIX + operation,
                "Content-Type": JSON_TYPE,
                "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{region}/"
                "ecr/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        try:
            with urllib.request.urlopen(request) as reply:
                answer: dict[str, Any] = json.loads(reply.read())
                return answer
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
            raise AwsError(body.get("__type", "ServerException"), body.get("message", "")) from None

    return ask
