"""What an image is: its `artifact_kind` and the media type (or cosign tag) that decided it, from
its manifest when the manifest was read, else from what DescribeImages says of it
(imageManifestMediaType, artifactMediaType, subjectManifestDigest, its tags).

The kinds, and how each is recognised (README "Records" has the same table):

- `image_index`: an OCI image index or a Docker manifest list (image-spec image-index.md;
  distribution manifest-v2-2.md "Manifest List"), unless its `artifactType` names another kind.
- `helm_chart`: config `application/vnd.cncf.helm.config.v1+json` (Helm, "Use OCI-based
  registries").
- `signature`: artifact type cosign (`application/vnd.dev.cosign.artifact.sig.v1+json`),
  Notation (`application/vnd.cncf.notary.signature`) or a Sigstore bundle holding a message
  signature; a layer of cosign's simple signing payload (cosign SIGNATURE_SPEC.md); a tag
  `sha256-<hex>.sig` (cosign's tag-based discovery), which also names the subject.
- `attestation`: in-toto statements (`application/vnd.in-toto+json`, buildx provenance) and DSSE
  envelopes (`application/vnd.dsse.envelope.v1+json`, cosign ATTESTATION_SPEC.md); a tag
  `sha256-<hex>.att`.
- `sbom`: SPDX, CycloneDX or syft documents (cosign SBOM_SPEC.md: `text/spdx`,
  `application/vnd.cyclonedx`, with suffixes; `application/spdx+json`), an in-toto statement
  whose predicate type is an SBOM's; a tag `sha256-<hex>.sbom`.
- `container_image`: a Docker schema 1 manifest (which has no config), or a Docker v2 or OCI
  manifest with an image config whose layers are none of the above.
- `artifact`: any other OCI artifact (image-spec 1.1 manifest.md "Guidelines for Artifact
  Usage": the artifactType, else the config's media type, says what it is).
- `unknown`: a manifest type the crawler does not know; recorded, never an error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

from crawler.media_types import (
    COSIGN_SIGNATURE,
    COSIGN_SIMPLESIGNING,
    DSSE_ENVELOPE,
    HELM_CHART,
    HELM_CONFIG,
    IMAGE_CONFIG_TYPES,
    IN_TOTO,
    INDEX_TYPES,
    MANIFEST_TYPES,
    NOTARY_SIGNATURE,
    OCI_ARTIFACT_MANIFEST,
    OCI_EMPTY,
    SBOM_MARKS,
    SCHEMA1_TYPES,
    SIGSTORE_BUNDLE,
)

ArtifactKind = Literal[
    "container_image",
    "image_index",
    "helm_chart",
    "signature",
    "sbom",
    "attestation",
    "artifact",
    "unknown",
]
# A kind and what decided it (a media type, an in-toto predicate type or a cosign tag).
Verdict = tuple[ArtifactKind, str | None]

# Artifacts about another image (their subject), never images of their own.
ATTACHED_KINDS: frozenset[str] = frozenset({"signature", "sbom", "attestation"})
# What a vulnerability scanner reads.
SCANNABLE_KINDS: frozenset[str] = frozenset({"container_image"})

_TYPES: dict[str, ArtifactKind] = {
    HELM_CONFIG: "helm_chart",
    HELM_CHART: "helm_chart",
    COSIGN_SIGNATURE: "signature",
    COSIGN_SIMPLESIGNING: "signature",
    NOTARY_SIGNATURE: "signature",
    IN_TOTO: "attestation",
    DSSE_ENVELOPE: "attestation",
}
# cosign's tag-based discovery: the subject's digest with ":" made "-", then the suffix.
_COSIGN_TAG = re.compile(r"(sha256|sha384|sha512)-([0-9a-f]{64,128})\.(sig|att|sbom)")
_COSIGN_KINDS: dict[str, ArtifactKind] = {"sig": "signature", "att": "attestation", "sbom": "sbom"}
# The shortest: sha256-, 64 hex digits, .sig
COSIGN_TAG_LENGTH = 75
# in-toto layers (buildx) and cosign bundles name their predicate in these annotations.
PREDICATE_ANNOTATIONS = ("in-toto.io/predicate-type", "dev.sigstore.bundle.predicateType")
BUNDLE_CONTENT = "dev.sigstore.bundle.content"

Annotations = Mapping[str, str] | None


@functools.lru_cache(maxsize=512)
def type_kind(media_type: str) -> ArtifactKind | None:
    """The kind an artifact, config or layer media type names; None for an image's own types
    and for types that name no kind. Parameters (`;version=0.2`) are ignored."""
    base = media_type.partition(";")[0].strip()
    kind = _TYPES.get(base)
    if kind is not None:
        return kind
    if base.startswith(SIGSTORE_BUNDLE):
        return "signature"
    if ".tar" not in base and any(mark in base for mark in SBOM_MARKS):
        return "sbom"
    return None


def _sbom_predicate(annotations: Annotations) -> str | None:
    for key in PREDICATE_ANNOTATIONS:
        predicate = (annotations or {}).get(key)
        if predicate and any(mark in predicate.lower() for mark in SBOM_MARKS):
            return predicate
    return None


def _refined(kind: ArtifactKind, by: str, annotations: Annotations) -> Verdict:
    """An attestation whose predicate is an SBOM is an SBOM; a Sigstore bundle is an
    attestation when it holds a DSSE envelope (cosign BUNDLE_SPEC.md, "Annotations")."""
    content = (annotations or {}).get(BUNDLE_CONTENT)
    if kind == "signature" and by.startswith(SIGSTORE_BUNDLE) and content == "dsse-envelope":
        kind = "attestation"
    if kind == "attestation" and (predicate := _sbom_predicate(annotations)):
        return "sbom", predicate
    return kind, by


class Layer(Protocol):
    """What the kind reads of a layer (crawler.records.Descriptor)."""

    @property
    def media_type(self) -> str | None: ...

    @property
    def annotations(self) -> Mapping[str, str] | None: ...


def _layers_kind(layers: Sequence[Layer]) -> Verdict | None:
    """The kind the layers of a manifest with an image config name: cosign's signatures,
    attestations and SBOMs, and buildx attestation manifests, keep an image config and say
    what they are in their layers' media types, every layer alike (a container image's layers
    are filesystems: the first says so). Several kinds: an attestation if any."""
    first = layers[0].media_type if layers else None
    if not first or type_kind(first) is None:
        return None
    found: Verdict | None = None
    for layer in layers:
        kind = type_kind(layer.media_type) if layer.media_type else None
        if kind is None:
            continue
        verdict = _refined(kind, layer.media_type or "", layer.annotations)
        if found is None or (verdict[0] == "attestation" != found[0]):
            found = verdict
    return found


def manifest_kind(
    media_type: str | None,
    *,
    artifact_type: str | None,
    config_type: str | None,
    layers: Sequence[Layer],
    annotations: Annotations,
    is_index: bool,
) -> Verdict:
    """The kind of a parsed manifest (image-spec 1.1 manifest.md: the artifactType, else the
    config's media type, names an artifact; the empty config needs an artifactType)."""
    if is_index or media_type in INDEX_TYPES:
        kind = type_kind(artifact_type) if artifact_type else None
        if kind is None:
            return "image_index", media_type
        return _refined(kind, artifact_type or "", annotations)
    if media_type in SCHEMA1_TYPES:
        return "container_image", media_type
    if media_type is not None and media_type not in MANIFEST_TYPES:
        return "unknown", media_type
    declared = artifact_type or (config_type if config_type != OCI_EMPTY else None)
    if declared and declared not in IMAGE_CONFIG_TYPES:
        kind = type_kind(declared)
        return _refined(kind, declared, annotations) if kind else ("artifact", declared)
    found = _layers_kind(layers)
    if found is not None:
        return found
    if config_type in IMAGE_CONFIG_TYPES:
        return "container_image", config_type
    return "artifact", config_type or media_type


@functools.lru_cache(maxsize=512)
def described_kind(manifest_type: str | None, artifact_type: str | None, attached: bool) -> Verdict:
    """The kind DescribeImages' media types give (its artifactMediaType is the artifactType, else
    the config's media type); `attached`: the image has a subjectManifestDigest."""
    if manifest_type in INDEX_TYPES:
        return "image_index", manifest_type
    if artifact_type:
        if artifact_type in IMAGE_CONFIG_TYPES and not attached:
            return "container_image", artifact_type
        return type_kind(artifact_type) or "artifact", artifact_type
    if manifest_type == OCI_ARTIFACT_MANIFEST or (attached and manifest_type in MANIFEST_TYPES):
        return "artifact", manifest_type
    if manifest_type in MANIFEST_TYPES:
        return "container_image", manifest_type
    return "unknown", manifest_type


def cosign_tag(tags: Iterable[str]) -> tuple[ArtifactKind, str, str] | None:
    """(kind, subject digest, tag) when a tag follows cosign's scheme `sha256-<hex>.sig`,
    `.att` or `.sbom` (cosign SIGNATURE_SPEC.md, "Tag-based Discovery")."""
    for tag in tags:
        if tag.startswith("sha") and (match := _COSIGN_TAG.fullmatch(tag)):
            return _COSIGN_KINDS[match[3]], f"{match[1]}:{match[2]}", tag
    return None


def settled(described: Verdict, read: Verdict) -> Verdict:
    """The kind of an image whose manifest was read: the manifest's, unless it only says
    "container image" of what DescribeImages or a cosign tag already called an attached
    artifact (a cosign artifact with layers of a type this crawler does not know)."""
    if read[0] == "container_image" and described[0] in ATTACHED_KINDS:
        return described
    return read
