"""ecr-crawler: a complete, current inventory of AWS Elastic Container Registry.

Library use (README, "Use as a library")::

    import anyio
    from crawler import load_config, scan, open_sink

    config = load_config("config.yaml", regions=["us-east-1"])
    sink = open_sink("jsonl:inventory.jsonl")
    summary = anyio.run(scan, config, sink)

Names are imported on first use, so that `import crawler` (and `ecr-crawler --help`) stays
quick: the AWS libraries load only when a scan needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from crawler.config import Config, load_config
    from crawler.errors import (
        AccessDeniedError,
        AwsError,
        ConfigError,
        CrawlerError,
        CredentialsError,
        SinkError,
    )
    from crawler.graph import ScanStats, scan
    from crawler.records import (
        Change,
        Error,
        Finding,
        Image,
        ImageManifest,
        Registry,
        Repository,
        ScanFinding,
        ScanRecord,
        ScanSummary,
    )
    from crawler.sinks import Sink, open_sink

_EXPORTS = {
    "crawler.graph": ["scan", "ScanStats"],
    "crawler.config": ["Config", "load_config"],
    "crawler.sinks": ["Sink", "open_sink"],
    "crawler.errors": [
        "CrawlerError",
        "ConfigError",
        "CredentialsError",
        "SinkError",
        "AwsError",
        "AccessDeniedError",
    ],
    "crawler.records": [
        "Repository",
        "Image",
        "ImageManifest",
        "ScanFinding",
        "Registry",
        "Error",
        "Finding",
        "Change",
        "ScanSummary",
        "ScanRecord",
    ],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
# Spelled out for static tools; a test checks it matches _EXPORTS.
__all__ = [
    "AccessDeniedError",
    "AwsError",
    "Change",
    "Config",
    "ConfigError",
    "CrawlerError",
    "CredentialsError",
    "Error",
    "Finding",
    "Image",
    "ImageManifest",
    "Registry",
    "Repository",
    "ScanFinding",
    "ScanRecord",
    "ScanStats",
    "ScanSummary",
    "Sink",
    "SinkError",
    "__version__",
    "load_config",
    "open_sink",
    "scan",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'crawler' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
