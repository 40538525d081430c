"""The artifacts of every kind a long-lived registry holds, as the simulator serves them: a
scenario's `kinds` gives the fraction of plain images drawn as each one (none by default, so the
existing scenarios serve exactly what they did).

- `schema1`: a signed Docker schema 1 manifest (`v1+prettyjws`; distribution's
  manifest-v2-1.md): fsLayers and history newest first, no config, no sizes.
- `helm`: a Helm chart (OCI manifest, config `application/vnd.cncf.helm.config.v1+json`).
- `cosign_signature`: cosign's signature of the image before it, pushed by tag
  (`sha256-<hex>.sig`, an image config and a simple signing layer: cosign SIGNATURE_SPEC.md).
- `sbom`, `attestation`: an SPDX document and an in-toto statement attached to the image before
  them as OCI 1.1 referrers (artifactType, the empty config, `subject`).
- `artifact_manifest`: a SARIF report in the artifact manifest of the image-spec 1.1 drafts.
- `windows`: a Windows image whose two base layers are foreign (with `urls`).
- `zstd`: an OCI image with zstd-compressed layers.

An attached artifact's subject is the image just before it; where that one is not a plain
container image, the draw falls back to a plain image. Texts are built by hand, as the
registry's own manifests are, so that a digest is the sha256 of exactly these bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal, NamedTuple, get_args

Artifact = Literal[
    "schema1",
    "helm",
    "cosign_signature",
    "sbom",
    "attestation",
    "artifact_manifest",
    "windows",
    "zstd",
]
ARTIFACTS: tuple[Artifact, ...] = get_args(Artifact)
# Artifacts about the image before them (their subject).
ATTACHED: frozenset[str] = frozenset(
    {"cosign_signature", "sbom", "attestation", "artifact_manifest"}
)
# Referrers: attached by an OCI subject, untagged (the signature is found by its tag instead).
REFERRERS: frozenset[str] = frozenset({"sbom", "attestation", "artifact_manifest"})
# No scanner reads them: ScanNotFound in basic modes, UNSUPPORTED_IMAGE under Inspector.
NOT_SCANNED: frozenset[str] = frozenset({"helm", *ATTACHED})

SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SPDX = "application/spdx+json"
IN_TOTO = "application/vnd.in-toto+json"
SARIF = "application/sarif+json"
MCR = "https://mcr.microsoft.com/v2/windows/servercore/blobs/"


class Served(NamedTuple):
    """A manifest as the simulator serves it: text, media type, DescribeImages' artifact media
    type and subjectManifestDigest."""

    text: str
    media_type: str
    artifact_type: str | None
    subject: str | None = None


def _blob(media_type: str, digest: str, size: int, extra: str = "") -> str:
    return f'{{"mediaType":"{media_type}","digest":"sha256:{digest}","size":{size}{extra}}}'


def _oci(config: str, layers: list[str], head: str = "", tail: str = "") -> str:
    return (
        f'{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",{head}"config":{config},'
        f'"layers":[{",".join(layers)}]{tail}}}'
    )


def _subject(subject: tuple[str, str, int]) -> str:
    digest, media_type, size = subject
    return f',"subject":{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}'


def artifact_manifest(
    artifact: Artifact, own: str, size: int, subject: tuple[str, str, int] | None
) -> Served:
    """The manifest of `artifact`; `own` is a 128-hex-digit hash of the image, `size` a draw,
    `subject` (digest, media type, size) of the image before it for an attached artifact."""
    config, layer = own[:64], own[64:]
    if artifact == "schema1":
        return Served(_schema1(own), SCHEMA1, None)
    if artifact == "helm":
        text = _oci(_blob(HELM_CONFIG, config, 120), [_blob(HELM_CHART, layer, size)])
        return Served(text, OCI_MANIFEST, HELM_CONFIG)
    if artifact == "windows":
        return Served(_windows(own, size), DOCKER_MANIFEST, DOCKER_CONFIG)
    if artifact == "zstd":
        layers = [_blob(ZSTD_LAYER, layer, size), _blob(ZSTD_LAYER, config[::-1], size // 3)]
        return Served(_oci(_blob(OCI_CONFIG, config, 1200), layers), OCI_MANIFEST, OCI_CONFIG)
    assert subject is not None
    return _attached(artifact, config, layer, size, subject)


def _attached(
    artifact: Artifact, config: str, layer: str, size: int, subject: tuple[str, str, int]
) -> Served:
    digest = subject[0]
    if artifact == "cosign_signature":
        note = ',"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQDsimulated"}'
        text = _oci(_blob(OCI_CONFIG, config, 250), [_blob(SIMPLESIGNING, layer, 240, note)])
        return Served(text, OCI_MANIFEST, OCI_CONFIG)
    empty = f'{{"mediaType":"{OCI_EMPTY}","digest":"{EMPTY_DIGEST}","size":2}}'
    if artifact == "artifact_manifest":
        text = (
            f'{{"mediaType":"{ARTIFACT_MANIFEST}","artifactType":"{SARIF}",'
            f'"blobs":[{_blob(SARIF, layer, size)}]{_subject(subject)}}}'
        )
        return Served(text, ARTIFACT_MANIFEST, SARIF, digest)
    kind, note = SPDX, ""
    if artifact == "attestation":
        kind = IN_TOTO
        note = ',"annotations":{"in-toto.io/predicate-type":"https://slsa.dev/provenance/v1"}'
    head = f'"artifactType":"{kind}",'
    text = _oci(empty, [_blob(kind, layer, size, note)], head, _subject(subject))
    return Served(text, OCI_MANIFEST, kind, digest)


def cosign_tag(subject_digest: str) -> str:
    return subject_digest.replace(":", "-") + ".sig"


def _schema1(own: str) -> str:
    layers = [hashlib.sha256(f"{own}/{k}".encode()).hexdigest() for k in range(3)]
    history = []
    for k in reversed(range(3)):
        v1: dict[str, object] = {"id": layers[k]}
        if k:
            v1["parent"] = layers[k - 1]
        if k == 2:
            v1.update(os="linux", architecture="amd64")
        history.append({"v1Compatibility": json.dumps(v1, separators=(",", ":"))})
    manifest = {
        "schemaVersion": 1,
        "name": "legacy",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": f"sha256:{d}"} for d in reversed(layers)],
        "history": history,
        "signatures": [
            {
                "header": {"jwk": {"crv": "P-256", "kid": own[:8], "kty": "EC"}, "alg": "ES256"},
                "signature": own[:43],
                "protected": "eyJmb3JtYXRMZW5ndGgiOjF9",
            }
        ],
    }
    return json.dumps(manifest, indent=3)


def _windows(own: str, size: int) -> str:
    foreign = [
        _blob(FOREIGN_LAYER, d, 1_500_000_000 + size, f',"urls":["{MCR}sha256:{d}"]')
        for d in (own[:64], own[64:])
    ]
    config = _blob(DOCKER_CONFIG, own[32:96], 3000)
    app = _blob(DOCKER_LAYER, own[16:80], size)
    return (
        f'{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{config},'
        f'"layers":[{",".join([*foreign, app])}]}}'
    )
