"""The AWS wire protocols the simulator speaks, and its error type.

ECR is awsJson1_1: POST /, `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>`, a JSON
body; errors are `{"__type": code, "message": ...}` with `x-amzn-ErrorType`. STS is awsQuery in
the pinned botocore: a form body with `Action=GetCallerIdentity` (or `Action=AssumeRole` and
its parameters), XML answers and `<ErrorResponse>` errors (newer botocore may speak awsJson1_0
to STS; both are served). Amazon Inspector (inspector2) is restJson1: the operation is the
request's path (POST /coverage/list, ...), the service the SigV4 scope's; errors as ECR's.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import msgspec

from bench.simulator.shapes import JsonError

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
STS_TARGET = "AWSSecurityTokenServiceV20110615."
ECR_JSON = "application/x-amz-json-1.1"
REST_JSON = "application/json"
# inspector2's operations the simulator serves: (method, requestUri) in botocore's model.
INSPECTOR_ROUTES = {
    ("POST", "/coverage/list"): "ListCoverage",
    ("POST", "/findings/list"): "ListFindings",
    ("POST", "/findings/aggregation/list"): "ListFindingAggregations",
}
STS_JSON = "application/x-amz-json-1.0"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]*/([^/]*)/([^/]*)/")
ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z]+)")

Protocol = Literal["json", "query"]
_request_ids = itertools.count(1)
_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """An AWS error answer: the JSON code and status, and the query-protocol equivalents."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        query_code: str | None = None,
        query_status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.query_code = query_code or code
        self.query_status = query_status or status


def invalid_parameter(message: str) -> ApiError:
    return ApiError("InvalidParameterException", message)


def throttled() -> ApiError:
    return ApiError("ThrottlingException", "Rate exceeded", query_code="Throttling")


def server_error() -> ApiError:
    return ApiError("ServerException", "Internal server error", 500, query_code="InternalFailure")


def bad_credentials() -> ApiError:
    # ECR says UnrecognizedClientException, STS InvalidClientTokenId (HTTP 403).
    return ApiError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        query_code="InvalidClientTokenId",
        query_status=403,
    )


def missing_credentials() -> ApiError:
    return ApiError(
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        query_code="MissingAuthenticationToken",
        query_status=403,
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed request: who, where, which operation, in which protocol."""

    service: Literal["ecr", "sts", "inspector2"]
    operation: str
    protocol: Protocol
    access_key: str
    region: str


def parse_call(
    target: str, authorization: str, body: bytes, method: str = "POST", path: str = "/"
) -> Call | None:
    """The call a request makes; None when it is not one of ECR, STS or Inspector's."""
    match = CREDENTIAL.search(authorization)
    access_key, region = (match[1], match[2]) if match else ("", "")
    if not target and match and match[3] == "inspector2":
        operation = INSPECTOR_ROUTES.get((method, path))
        return Call("inspector2", operation, "json", access_key, region) if operation else None
    if target.startswith(ECR_TARGET):
        return Call("ecr", target[len(ECR_TARGET) :], "json", access_key, region)
    if target.startswith(STS_TARGET):
        return Call("sts", target[len(STS_TARGET) :], "json", access_key, region)
    action = None if target else ACTION.search(body)
    if action is not None:
        return Call("sts", action[1].decode(), "query", access_key, region)
    return None


def request_id() -> str:
    n = next(_request_ids)
    return f"00000000-0000-4000-8000-{n:012x}"


def json_body(shape: msgspec.Struct | dict[str, Any]) -> bytes:
    return _encoder.encode(shape)


def json_error(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-amzn-ErrorType": error.code, "Content-Type": ECR_JSON}
    return error.status, headers, _encoder.encode(JsonError(error.code, error.message))


def query_error(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    kind = "Receiver" if error.query_status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>{kind}</Type>'
        f"<Code>{error.query_code}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id()}</RequestId></ErrorResponse>"
    )
    return error.query_status, {"Content-Type": "text/xml"}, body.encode()


def query_result(action: str, members: dict[str, Any]) -> bytes:
    """An awsQuery success answer: <ActionResponse><ActionResult>members...</...>; a dict
    member is a nested structure, a datetime an ISO 8601 timestamp."""
    return (
        f'<{action}Response xmlns="{STS_NS}"><{action}Result>{_xml(members)}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    ).encode()


def _xml(members: dict[str, Any]) -> str:
    parts = []
    for name, value in members.items():
        if isinstance(value, dict):
            text = _xml(value)
        elif isinstance(value, datetime):
            text = value.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            text = escape(str(value))
        parts.append(f"<{name}>{text}</{name}>")
    return "".join(parts)


def json_result(members: dict[str, Any]) -> bytes:
    """An awsJson1_0 success answer (STS): timestamps as epoch seconds."""
    return _encoder.encode(_epochs(members))


def _epochs(members: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _epochs(v) if isinstance(v, dict) else v.timestamp() if isinstance(v, datetime) else v
        for k, v in members.items()
    }


def query_params(body: bytes) -> dict[str, str]:
    """The parameters of an awsQuery form body (the first value of each)."""
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
