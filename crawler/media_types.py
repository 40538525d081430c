"""Media types of manifests, configs and layers, as the Docker and OCI specs and the tools that
push artifacts name them; the one place the manifest parser, the artifact kinds and the
compliance checks read them from."""

from __future__ import annotations

# Docker Image Manifest V2, Schema 1 (distribution/docs/spec/manifest-v2-1.md): `v1+json`
# unsigned, `v1+prettyjws` signed (a JWS in `signatures`). Deprecated since 2015, still in ECR
# (userguide "Container image manifest format support in Amazon ECR").
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
# Docker Image Manifest V2, Schema 2 (distribution/docs/spec/manifest-v2-2.md).
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# "A layer that is not pushed to the registry, whose blob is at `urls`" (Windows base layers).
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# OCI image-spec 1.1 (manifest.md, image-index.md, layer.md, descriptor.md).
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Non-distributable layers (deprecated by image-spec 1.1: "SHOULD NOT" be pushed, still read).
OCI_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
# The artifact manifest of the image-spec 1.1 release candidates (artifact.md of v1.1.0-rc1 and
# rc2: `artifactType`, `blobs`, `subject`, no config), dropped before 1.1.0; ECR accepted it
# while it was a draft and keeps what was pushed.
OCI_ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"
# Helm (helm.sh/docs/topics/registries: "Helm charts are OCI artifacts").
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
# Signatures: cosign as an OCI 1.1 referrer, cosign's simple signing payload in a layer of its
# `sha256-<hex>.sig` tags (cosign specs/SIGNATURE_SPEC.md), Notation (notaryproject specs).
COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"
# cosign's Sigstore bundle (specs/BUNDLE_SPEC.md): a message signature or a DSSE attestation,
# told apart by the `dev.sigstore.bundle.predicateType` annotation.
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle"
# Attestations: in-toto statements (buildx provenance), DSSE envelopes (cosign attest,
# specs/ATTESTATION_SPEC.md).
IN_TOTO = "application/vnd.in-toto+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
# SBOMs (cosign specs/SBOM_SPEC.md: `text/spdx`, `application/vnd.cyclonedx`, with format
# suffixes; SPDX's registered `application/spdx+json`; syft's own format).
SBOM_MARKS = ("spdx", "cyclonedx", "syft")

# What BatchGetImage is asked to return: every manifest type ECR stores. By digest ECR converts
# nothing ("If you pull an image by digest, there is no translation available"), so a type left
# out is a failure (UnsupportedImageType), never a converted manifest.
ACCEPTED_MEDIA_TYPES = [
    DOCKER_MANIFEST,
    DOCKER_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    OCI_ARTIFACT_MANIFEST,
]
# What every scan asked for before schema 1 and artifact manifests were: the fallback should
# ECR reject the longer list (crawler.ecr.manifests).
SAFE_MEDIA_TYPES = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX]
# Manifests that list other manifests (multi-arch images) rather than layers.
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
# Every manifest type this crawler parses; anything else is recorded as unknown.
MANIFEST_TYPES = frozenset(ACCEPTED_MEDIA_TYPES)
# Configs of runnable container images (anything else is an artifact: Helm chart, SBOM, ...).
IMAGE_CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})
# Artifact types of signatures attached to their subject as OCI referrers (cosign, notation).
SIGNATURE_TYPES = frozenset({COSIGN_SIGNATURE, NOTARY_SIGNATURE})
