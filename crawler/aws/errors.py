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
    CrawlerError,
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
        "SigningConfigurationNotFoundException",
    }
)


# Our error for each code of a ClientError, checked in this order after throttling.
CODE_ERRORS: tuple[tuple[frozenset[str], type[AwsError]], ...] = (
    (THROTTLING_CODES, ThrottledError),
    (SERVER_CODES, RetryableError),
    (ACCESS_DENIED_CODES, AccessDeniedError),
    # ECR says this both for bad keys and for opt-in regions the account has not enabled; the
    # keys were proven good by GetCallerIdentity, so it is the region.
    (frozenset({"UnrecognizedClientException"}), RegionDisabledError),
    (NOT_FOUND_CODES, NotFoundError),
)


def translate(exc: Exception, operation: str = "") -> Exception:
    """Our error for botocore's `exc` in `operation` (a ClientError knows its own operation);
    anything we do not know is returned unchanged."""
    if isinstance(exc, ClientError):
        return _client_error(exc, exc.operation_name or operation)
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


def _client_error(exc: ClientError, operation: str) -> CrawlerError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")).strip() or "(no message)"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in CREDENTIALS_CODES:
        if code.startswith("Expired"):
            return CredentialsError(
                f"the AWS credentials expired ({operation}: {code}): renew them, or set "
                "auth.role_arn, whose sessions are refreshed before they expire"
            )
        return CredentialsError(f"AWS rejected the credentials ({operation}: {code}: {message})")
    for codes, kind in CODE_ERRORS:
        if code in codes:
            return kind(operation, code, message)
    if status >= 500:
        return RetryableError(operation, code, message)
    return AwsError(operation, code, message)
