"""`ecr-crawler demo`: a moto ECR emulator on loopback, seeded with a realistic sample registry
(Docker v2 and OCI manifests, a multi-arch index with its children, untagged images, several
tags per image), scanning as today's ECR does in each region (Clair-based basic, AWS-native
basic, enhanced), and a session that reaches it. The tests seed their emulator the same way,
minus the scanning modes: their proxy models those (tests/scanning.py).

`data` is the sample registry, `seed` pushes it through boto3, `server` runs the emulator,
`moto_patches` fills what moto lacks and `scanner` says what the scanners report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from crawler.demo.data import (
    DEMO_ACCESS_KEY,
    DEMO_REGIONS,
    DEMO_SCANNING,
    DEMO_SECRET_KEY,
    docker_manifest,
    encode,
    oci_manifest,
)
from crawler.demo.seed import multi_arch, seed, seed_region
from crawler.demo.server import free_port, run_emulator
from crawler.media_types import COSIGN_SIGNATURE

if TYPE_CHECKING:
    from aiobotocore.session import AioSession

# tests/test_compliance.py imports it under its old, private name.
_multi_arch = multi_arch

__all__ = [
    "COSIGN_SIGNATURE",
    "DEMO_ACCESS_KEY",
    "DEMO_REGIONS",
    "DEMO_SCANNING",
    "DEMO_SECRET_KEY",
    "demo_session",
    "docker_manifest",
    "encode",
    "free_port",
    "multi_arch",
    "oci_manifest",
    "run_emulator",
    "seed",
    "seed_region",
    "start_emulator",
]


@contextmanager
def start_emulator() -> Iterator[str]:
    """The emulator, seeded with the sample registry in every demo region, each region in its
    scanning mode, and the registry settings of the demo (managed signing, replication, creation
    templates): its URL."""
    from crawler.demo.moto_patches import paced_pushes

    with run_emulator() as endpoint:
        # A history: the sample registry pushed over the last day, a minute between pushes.
        with paced_pushes(start=int(time.time()) - 86_400, step=60):
            seed(endpoint, DEMO_REGIONS.split(","), DEMO_SCANNING, settings=True)
        yield endpoint


def demo_session() -> AioSession:
    """An aiobotocore session with the emulator's made-up credentials."""
    from aiobotocore.session import AioSession

    session = AioSession()
    session.set_credentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY)
    return session
