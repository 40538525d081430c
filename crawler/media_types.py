"""Media types of manifests, configs and layers, as the Docker and OCI specs name them; the one
place both the manifest parser and the compliance checks read them from."""

from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"

# What BatchGetImage is asked to return.
ACCEPTED_MEDIA_TYPES = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX]
# Manifests that list other manifests (multi-arch images) rather than layers.
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
# Configs of runnable container images (anything else is an artifact: Helm chart, SBOM, ...).
IMAGE_CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})
# Artifact types of signatures attached to their subject as OCI referrers (cosign, notation).
SIGNATURE_TYPES = frozenset({COSIGN_SIGNATURE, NOTARY_SIGNATURE})
