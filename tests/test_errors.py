"""The translation of botocore's errors into ours, at the edge (crawler/aws/errors.py): which
codes are retried, which are denials, which are "not found" (data), which end the scan."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from crawler.aws.errors import (
    ACCESS_DENIED_CODES,
    CREDENTIALS_CODES,
    NOT_FOUND_CODES,
    SERVER_CODES,
    THROTTLING_CODES,
    translate,
)
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


def client_error(code: str, status: int = 400) -> ClientError:
    """The error botocore raises for an answer `status` with error `code`; its
    ResponseMetadata whole, as botocore's parser gives it."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {
                "RequestId": "r",
                "HostId": "",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "DescribeImages",
    )


CODES = [
    *[(code, 400, ThrottledError) for code in sorted(THROTTLING_CODES)],
    *[(code, 500, RetryableError) for code in sorted(SERVER_CODES)],
    ("SomethingNew", 503, RetryableError),
    *[(code, 400, AccessDeniedError) for code in sorted(ACCESS_DENIED_CODES)],
    *[(code, 403, CredentialsError) for code in sorted(CREDENTIALS_CODES)],
    ("UnrecognizedClientException", 400, RegionDisabledError),
    *[(code, 400, NotFoundError) for code in sorted(NOT_FOUND_CODES)],
    ("InvalidParameterException", 400, AwsError),
]


@pytest.mark.parametrize(("code", "status", "kind"), CODES)
def test_each_known_code_becomes_its_error(code: str, status: int, kind: type) -> None:
    """Every code the translation knows maps to exactly its class of our tree."""
    error = translate(client_error(code, status))
    assert type(error) is kind
    if isinstance(error, AwsError):
        assert (error.operation, error.code) == ("DescribeImages", code)


@pytest.mark.parametrize(
    ("code", "retried"),
    [("ThrottlingException", True), ("ServerException", True), ("AccessDeniedException", False)],
)
def test_only_throttling_and_server_errors_are_retried(code: str, retried: bool) -> None:
    """RetryableError is what tenacity retries: throttling and 5xx, never a denial."""
    assert isinstance(translate(client_error(code)), RetryableError) is retried


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), RetryableError),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), RetryableError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), RetryableError),
        (ResponseParserError("not JSON"), RetryableError),
        (NoCredentialsError(), CredentialsError),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            CredentialsError,
        ),
        (ProfileNotFound(profile="nope"), ConfigError),
    ],
)
def test_botocore_exceptions_become_ours(exc: Exception, kind: type) -> None:
    """Network failures are retried; missing credentials and bad profiles end the scan."""
    assert isinstance(translate(exc, "DescribeImages"), kind)


def test_expired_credentials_say_how_to_renew() -> None:
    """An expired token says what to do, not only what happened."""
    error = translate(client_error("ExpiredTokenException", 403))
    assert isinstance(error, CredentialsError)
    assert "renew" in str(error)


def test_unknown_exceptions_pass_through_unchanged() -> None:
    """What is not botocore's is not ours to translate."""
    exc = KeyError("x")
    assert translate(exc) is exc
