"""Configuration: parsed once from YAML and flags into frozen, validated objects.

`model` holds the sections and their defaults, `validate` checks a tree against them (the
messages), `load` reads the file, merges the flags and builds the Config."""

from __future__ import annotations

from crawler.config.load import load_config, plaintext_secrets
from crawler.config.model import (
    REGION_PATTERN,
    ROLE_ARN_PATTERN,
    Account,
    Auth,
    Collect,
    Compliance,
    Concurrency,
    Config,
    Lifecycle,
    Log,
    Organization,
    RateLimit,
    Retry,
    SinkOptions,
    Suppression,
    Timeouts,
)

__all__ = [
    "REGION_PATTERN",
    "ROLE_ARN_PATTERN",
    "Account",
    "Auth",
    "Collect",
    "Compliance",
    "Concurrency",
    "Config",
    "Lifecycle",
    "Log",
    "Organization",
    "RateLimit",
    "Retry",
    "SinkOptions",
    "Suppression",
    "Timeouts",
    "load_config",
    "plaintext_secrets",
]
