"""Translate botocore's exceptions into our error tree (`crawler.errors`), at the edge."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConfigParseError,
    ConnectionError,
    HTTPClientError,
    InvalidConfigError,
    InvalidEndpointConfigurationError,
    InvalidRegionError,
    InvalidRetryConfigurationError,
    InvalidSTSRegionalEndpointsConfigError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.parsers import ResponseParserError

from crawler.errors import (
    AccessDeniedError,
    AwsError,
    ConfigError,
    CredentialsError,
    NotFoundError,
    RegionDisabledError,
    RetryableError,
    ThrottledError,
)

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
SERVER_CODES = frozenset(
    {"ServerException", "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure"}
)
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
# Rejected or expired credentials, as STS and the JSON services spell it.
CREDENTIALS_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "AuthFailure",
    }
)
# botocore's complaints about the AWS configuration: the profile, the config files, AWS_*.
CONFIG_ERRORS = (
    ProfileNotFound,
    ConfigParseError,
    InvalidRegionError,
    InvalidConfigError,
    InvalidEndpointConfigurationError,
    InvalidRetryConfigurationError,
    InvalidSTSRegionalEndpointsConfigError,
)
NOT_FOUND_CODES = frozenset(
    {
        "RepositoryNotFoundException",
        "RegistryNotFoundException",
        "ImageNotFoundException",
        "LifecyclePolicyNotFoundException",
        "RepositoryPolicyNotFoundException",
        "RegistryPolicyNotFoundException",
        "ScanNotFoundException",
    }
)


def translate(exc: Exception, operation: str = "") -> Exception:
    """Our error for botocore's `exc` in `operation` (a ClientError knows its own operation);
    anything we do not know is returned unchanged."""
    if isinstance(exc, ClientError):
        operation = exc.operation_name or operation
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")).strip() or "(no message)"
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES:
            return ThrottledError(operation, code, message)
        if code in SERVER_CODES or status >= 500:
            return RetryableError(operation, code, message)
        if code in ACCESS_DENIED_CODES:
            return AccessDeniedError(operation, code, message)
        if code in CREDENTIALS_CODES:
            if code.startswith("Expired"):
                return CredentialsError(
                    f"the AWS credentials expired ({operation}: {code}): renew them, or set "
                    "auth.role_arn, whose sessions are refreshed before they expire"
                )
            return CredentialsError(
                f"AWS rejected the credentials ({operation}: {code}: {message})"
            )
        if code == "UnrecognizedClientException":
            # ECR says this both for bad keys and for opt-in regions the account has not
            # enabled; the keys were proven good by GetCallerIdentity, so it is the region.
            return RegionDisabledError(operation, code, message)
        if code in NOT_FOUND_CODES:
            return NotFoundError(operation, code, message)
        return AwsError(operation, code, message)
    if isinstance(exc, CONFIG_ERRORS):
        return ConfigError(f"AWS configuration (AWS_* variables, AWS_PROFILE, ~/.aws): {exc}")
    if isinstance(exc, PartialCredentialsError):
        return CredentialsError(f"incomplete AWS credentials: {exc}")
    if isinstance(exc, NoCredentialsError):
        return CredentialsError(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where a role is available"
        )
    if isinstance(exc, HTTPClientError | ConnectionError | ResponseParserError):
        return RetryableError(operation, type(exc).__name__, str(exc))
    if isinstance(exc, BotoCoreError):
        return AwsError(operation, type(exc).__name__, str(exc))
    return exc
