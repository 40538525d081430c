"""ECR's wire conventions the test proxy (tests/awsproxy.py) adds over moto: error answers
(AwsError), and paging of the answers moto returns whole: maxResults checked as ECR checks it
(1..1000, 100 when absent), nextTokens bound to the listing they came from, and the list
fields of one answer cut to the page asked for. Also the operations of restJson1 services
(inspector2), which a request names by its method and path, not by a target header."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import botocore.session
from aiohttp import web

# Listing operation -> (request field that turns it into a lookup, the response's list fields:
# each one present is paged).
LISTINGS = {
    "DescribeRepositories": ("repositoryNames", ("repositories",)),
    "DescribeImages": ("imageIds", ("imageDetails",)),
    "ListImages": ("imageIds", ("imageIds",)),
    "DescribeImageScanFindings": (
        "",
        ("imageScanFindings.findings", "imageScanFindings.enhancedFindings"),
    ),
}
# Enhanced scanning (Amazon Inspector) returns at most 100 findings a page, whatever maxResults
# says (shared/aws-ecr-today.md).
PAGE_LIMITS = {"imageScanFindings.enhancedFindings": 100}
DEFAULT_PAGE = 100
PAGING = ("maxResults", "nextToken")
INVALID_TOKEN = "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'"
INVALID_MAX_RESULTS = (
    "Invalid parameter at 'maxResults' failed to satisfy constraint: "
    "'Member must have value between 1 and 1000'"
)
JSON_TYPE = "application/x-amz-json-1.1"
# Services that speak restJson1 and have operations the proxy's tests model.
REST_SERVICES = frozenset({"inspector2"})


class AwsError(Exception):
    """An AWS error answer: a responder, handler or rewrite raises it to answer with an error;
    `Call.ask` raises it when moto answers with one."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def response(self) -> web.Response:
        return json_error(self.status, self.code, self.message)


def json_error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"__type": code, "message": message}).encode()
    headers = {"x-amzn-ErrorType": code, "Content-Type": JSON_TYPE}
    return web.Response(status=status, body=body, headers=headers)


@dataclass(frozen=True)
class Page:
    """Where one page of a listing starts, how long it is at most, and its token's key."""

    fields: tuple[str, ...]
    offset: int
    size: int
    key: str

    @classmethod
    def asked(
        cls,
        operation: str,
        region: str,
        payload: dict[str, Any],
        fields: tuple[str, ...],
        page_cap: int | None,
    ) -> Page:
        """The page `payload` asks for; a bad maxResults or nextToken raises AwsError."""
        max_results, token = payload.get("maxResults"), payload.get("nextToken")
        if max_results is not None and not (type(max_results) is int and 1 <= max_results <= 1000):
            raise AwsError("InvalidParameterException", INVALID_MAX_RESULTS)
        key = _listing_key(operation, region, payload)
        offset = 0 if token is None else _decode_token(token, key)
        if offset is None:
            raise AwsError("InvalidParameterException", INVALID_TOKEN)
        size = max_results or DEFAULT_PAGE
        if page_cap is not None:
            size = min(size, page_cap)
        return cls(fields, offset, size, key)

    def cut(self, result: dict[str, Any]) -> None:
        """Cut each list field present in `result` to this page, and set nextToken."""
        lists: list[tuple[dict[str, Any], str]] = []
        size = self.size
        for path in self.fields:
            *parents, leaf = path.split(".")
            holder: Any = result
            for name in parents:
                holder = holder.get(name) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and isinstance(holder.get(leaf), list):
                lists.append((holder, leaf))
                size = min(size, PAGE_LIMITS.get(path, size))
        more = False
        for holder, leaf in lists:
            items = holder[leaf]
            holder[leaf] = items[self.offset : self.offset + size]
            more = more or self.offset + size < len(items)
        result.pop("nextToken", None)
        if more:
            result["nextToken"] = _encode_token(self.offset + size, self.key)


def _listing_key(operation: str, region: str, request: dict[str, Any]) -> str:
    # Findings are listed per image: a token of one image's findings is no good for another's.
    image = json.dumps(request.get("imageId"), sort_keys=True)
    ident = f"{operation}|{region}|{request.get('repositoryName', '')}|{image}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def _encode_token(offset: int, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": key}).encode()).decode()


def _decode_token(token: Any, key: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = data["o"]
        ok = data["k"] == key and type(offset) is int and offset >= 0
    except (AttributeError, TypeError, ValueError, KeyError):
        return None
    return offset if ok else None


def operation_name(target: str, rest: str, body: bytes) -> str:
    """The operation of a request: its target header's (JSON), `rest` (restJson1) or its form
    field Action (STS's query protocol)."""
    if target:
        return target.rpartition(".")[2]
    return rest or parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


def rest_operation(service: str, method: str, path: str) -> str:
    """The operation a restJson1 request of `service` makes ("" for another service, or a path
    no operation has), from botocore's model of it."""
    if service not in REST_SERVICES:
        return ""
    return _rest_routes(service).get((method, path), "")


@functools.cache
def _rest_routes(service: str) -> dict[tuple[str, str], str]:
    # Only fixed paths: the operations modelled here (POST /coverage/list, ...) have no
    # parameters in their URI.
    model = botocore.session.get_session().get_service_model(service)
    routes = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        if "{" not in http["requestUri"]:
            routes[(http["method"], http["requestUri"].partition("?")[0])] = name
    return routes
