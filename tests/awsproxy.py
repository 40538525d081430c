"""Reverse proxy in front of a moto server that adds AWS-like pagination and seeded faults.

moto returns every item in one response and never throttles or fails, so on its own it cannot
exercise the crawler's paging, retry and error paths. Tests point their clients at this proxy
instead and steer it through ``rules``, ``hooks`` and ``page_cap``; ``responses``,
``handlers`` and ``rewrites`` model what moto lacks (tests/scanning.py: today's scanning modes;
tests/inspector.py: Amazon Inspector, a restJson1 service whose operation is its path).
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import re
import socket
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import aiohttp
from aiohttp import web
from awswire import JSON_TYPE, LISTINGS, AwsError, Page, json_error, operation_name, rest_operation
from multidict import CIMultiDict
from yarl import URL

Fault = Literal[
    "throttle",
    "server_error",
    "reset",
    "latency",
    "access_denied",
    "not_enabled",
    "reject_credentials",
    "expired",
    "malformed",
]
Hook = Callable[[str, str, dict[str, Any]], None]
# (region, request) -> the whole answer, for operations moto does not implement.
Responder = Callable[[str, dict[str, Any]], dict[str, Any]]
# (region, request, moto's answer) -> None, changing the answer in place where moto falls short.
Rewrite = Callable[[str, dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class Call:
    """One ECR call as a handler sees it, and moto asked on the caller's behalf."""

    operation: str
    region: str
    request: dict[str, Any]  # as the client sent it, maxResults and nextToken included
    # (operation, request) -> moto's answer, signed as the caller (same account and region);
    # moto's errors raise AwsError. Not seen by rules, hooks or the call counters.
    ask: Callable[[str, dict[str, Any]], dict[str, Any]]


# Call -> the whole answer (before paging), for behaviours that need moto's state. Handlers run
# in a worker thread, so `ask` may block; a rewrite of the operation still applies afterwards.
Handler = Callable[[Call], dict[str, Any]]


# A 200 answer cut short in transit (the default body of a "malformed" rule).
TRUNCATED = b'{"repositories": [{"registryId": "123456789012", "repositoryName": "we'


@dataclass
class Rule:
    """One seeded fault: which calls it hits and what it does."""

    fault: Fault
    operation: str | None = None  # e.g. "DescribeImages"; None = any operation
    region: str | None = None  # from the SigV4 credential scope; None = any
    service: str | None = None  # "ecr" or "sts", from the SigV4 credential scope; None = any
    rate: float = 1.0  # probability a matching call is hit (seeded RNG)
    times: int | None = None  # stop after hitting this many calls; None = unlimited
    delay: float = 0.0  # seconds, for "latency"
    access_key: str | None = None  # only calls signed with this access key id; None = any
    within: str | None = None  # only calls whose request body contains this text; None = any
    body: bytes = TRUNCATED  # for "malformed": the 200 answer's body
    hits: int = field(default=0, init=False)  # calls this rule has hit so far


ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
HOP_BY_HOP = "connection keep-alive proxy-authenticate proxy-authorization te trailer upgrade"
DROP_REQUEST = {*HOP_BY_HOP.split(), "transfer-encoding", "host", "content-length"}
# moto sends two Server headers, which strict HTTP parsers reject; aiohttp adds its own.
DROP_RESPONSE = {"content-length", "transfer-encoding", "content-encoding", "connection", "server"}
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]*/([^/]*)/([^/]*)/")
BAD_TOKEN = "The security token included in the request is invalid."
DENIED = (
    "User: arn:aws:iam::123456789012:user/test is not authorized to perform: {action} "
    "on resource: * because no identity-based policy allows the {action} action"
)
# fault -> (JSON status, __type, query-protocol status, query Code, message)
ERRORS = {
    "throttle": (400, "ThrottlingException", 400, "Throttling", "Rate exceeded"),
    "server_error": (500, "ServerException", 500, "InternalFailure", "Internal server error"),
    "access_denied": (400, "AccessDeniedException", 403, "AccessDenied", DENIED),
    # AWS answers calls to an opt-in region the account has not enabled as if the key were bad.
    "not_enabled": (400, "UnrecognizedClientException", 403, "InvalidClientTokenId", BAD_TOKEN),
}
ERRORS["reject_credentials"] = ERRORS["not_enabled"]
# Temporary credentials past their expiry, as ECR (JSON) and STS (query) answer.
ERRORS["expired"] = (
    400,
    "ExpiredTokenException",
    403,
    "ExpiredToken",
    "The security token included in the request is expired",
)


def _query_error(status: int, code: str, message: str) -> web.Response:
    kind = "Receiver" if status >= 500 else "Sender"
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return web.Response(status=status, text=body, content_type="text/xml")


class AwsProxy:
    """Forwards every request to ``upstream``, paginating ECR listings and injecting faults."""

    def __init__(self, upstream: str, *, page_cap: int | None = None, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.rules: list[Rule] = []
        self.hooks: list[Hook] = []
        self.responses: dict[str, Responder] = {}
        self.handlers: dict[str, Handler] = {}
        self.rewrites: dict[str, Rewrite] = {}
        # Operation -> edit of the text of a query-protocol (STS, XML) answer.
        self.text_rewrites: dict[str, Callable[[str], str]] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.page_cap = page_cap
        self._initial_page_cap = page_cap
        self._seed = seed
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def __enter__(self) -> AwsProxy:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="awsproxy", daemon=True)
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._setup(), loop).result()
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._teardown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop = self._thread = None

    def reset(self, seed: int | None = None) -> None:
        """No rules, hooks, answers or handlers; the fault RNG reseeded (with `seed`, or the
        proxy's)."""
        self.rules.clear()
        self.hooks.clear()
        self.responses.clear()
        self.handlers.clear()
        self.rewrites.clear()
        self.text_rewrites.clear()
        self.calls.clear()
        self.faults.clear()
        self.page_cap = self._initial_page_cap
        self._rng.seed(self._seed if seed is None else seed)

    def _serve(self) -> None:
        assert self._loop is not None
        self._loop.run_forever()
        # Handlers still sleeping on a "latency" rule for a client that gave up.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        # Hooks run in the default executor; join its threads before closing the loop.
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()

    async def _setup(self) -> int:
        self._session = aiohttp.ClientSession()
        # A short shutdown timeout so stop() does not wait on a long "latency" sleep.
        self._runner = web.AppRunner(web.Application(), handle_signals=False, shutdown_timeout=1)
        self._runner.app.router.add_route("*", "/{tail:.*}", self._handle)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return int(self._runner.addresses[0][1])

    async def _teardown(self) -> None:
        assert self._runner is not None
        assert self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        match = CREDENTIAL.search(request.headers.get("Authorization", ""))
        access_key, region, service = match.groups() if match else ("", "", "")
        # restJson1 services (inspector2) name the operation by method and path.
        rest = "" if target else rest_operation(service, request.method, request.path)
        is_json = bool(target or rest)
        operation = operation_name(target, rest, body)
        self.calls[operation] += 1

        rule = self._pick_rule(operation, region, access_key, body, service)
        if rule is not None:
            faulty = await self._inject(rule, request, is_json, operation, service)
            if faulty is not None:
                return faulty

        is_ecr = target.startswith(ECR_TARGET_PREFIX)
        payload: dict[str, Any] = json.loads(body) if (is_ecr or rest) and body else {}
        if is_ecr:
            # In a thread: a hook making a blocking boto3 call against moto must not stall us.
            for hook in list(self.hooks):
                await asyncio.to_thread(hook, operation, region, payload)

        if (is_ecr or rest) and operation in self.responses:
            try:
                answer = self.responses[operation](region, payload)
            except AwsError as error:
                return error.response()
            return web.Response(body=json.dumps(answer).encode(), content_type=JSON_TYPE)
        listing = LISTINGS.get(operation) if is_ecr else None
        fields = listing[1] if listing is not None and listing[0] not in payload else None
        if fields is not None or (is_ecr and operation in self.handlers):
            return await self._modelled(request, operation, region, payload, fields)
        return await self._forward(request, body, operation, region, payload, is_json)

    async def _forward(
        self,
        request: web.Request,
        body: bytes,
        operation: str,
        region: str,
        payload: dict[str, Any],
        is_json: bool,
    ) -> web.Response:
        """moto's answer, with the operation's rewrite if it has one."""
        status, headers, data = await self._upstream(request, body)
        if status == 200 and operation in self.rewrites:
            reply = json.loads(data)
            try:
                self.rewrites[operation](region, payload, reply)
            except AwsError as error:
                return error.response()
            data = json.dumps(reply).encode()
        if status == 200 and not is_json and operation in self.text_rewrites:
            data = self.text_rewrites[operation](data.decode()).encode()
        return web.Response(status=status, headers=headers, body=data)

    async def _inject(
        self, rule: Rule, request: web.Request, is_json: bool, operation: str, service: str
    ) -> web.StreamResponse | None:
        """The fault's answer; None when the call goes on (after a "latency" rule's sleep)."""
        self.faults[rule.fault] += 1
        if rule.fault == "reset":
            return self._reset(request)
        if rule.fault == "latency":
            await asyncio.sleep(rule.delay)
            return None
        if rule.fault == "malformed":
            content_type = JSON_TYPE if is_json else "text/xml"
            return web.Response(status=200, body=rule.body, content_type=content_type)
        return self._fault(rule.fault, is_json, operation, service)

    def _pick_rule(
        self, operation: str, region: str, access_key: str, body: bytes, service: str = ""
    ) -> Rule | None:
        for rule in list(self.rules):
            if (
                rule.operation not in (None, operation)
                or rule.region not in (None, region)
                or rule.service not in (None, service)
                or rule.access_key not in (None, access_key)
                or (rule.within is not None and rule.within.encode() not in unquote_to_bytes(body))
                or (rule.times is not None and rule.hits >= rule.times)
            ):
                continue
            if rule.rate >= 1.0 or self._rng.random() < rule.rate:
                rule.hits += 1
                return rule
        return None

    def _reset(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        # Linger 0 makes the close send RST, which the client sees as a connection reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        # aiohttp drops this quietly: writing to the aborted transport raises ConnectionError.
        return web.Response(status=500)

    def _fault(self, fault: str, is_json: bool, operation: str, service: str) -> web.Response:
        json_status, json_code, query_status, query_code, message = ERRORS[fault]
        message = message.format(action=f"{service}:{operation}")
        if is_json:
            return json_error(json_status, json_code, message)
        return _query_error(query_status, query_code, message)

    async def _upstream(
        self, request: web.Request, body: bytes
    ) -> tuple[int, CIMultiDict[str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROP_REQUEST}
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        ) as resp:
            data = await resp.read()
            out = CIMultiDict(
                (k, v) for k, v in resp.headers.items() if k.lower() not in DROP_RESPONSE
            )
            return resp.status, out, data

    async def _modelled(
        self,
        request: web.Request,
        operation: str,
        region: str,
        payload: dict[str, Any],
        fields: tuple[str, ...] | None,
    ) -> web.Response:
        """A handler's answer, or moto's, rewritten, then paged when `fields` are a listing's."""
        query, page = payload, None
        try:
            if fields is not None:
                page = Page.asked(operation, region, payload, fields, self.page_cap)
                # moto would ignore these anyway; a copy keeps the dict the hooks saw intact.
                query = {k: v for k, v in payload.items() if k not in ("maxResults", "nextToken")}
            if operation in self.handlers:
                call = Call(operation, region, payload, self._asker(request))
                result = await asyncio.to_thread(self.handlers[operation], call)
                status, headers = 200, CIMultiDict({"Content-Type": JSON_TYPE})
            else:
                status, headers, data = await self._upstream(request, json.dumps(query).encode())
                if status != 200:
                    return web.Response(status=status, headers=headers, body=data)
                result = json.loads(data)
            if operation in self.rewrites:
                self.rewrites[operation](region, payload, result)
        except AwsError as error:
            return error.response()
        if page is not None:
            page.cut(result)
        return web.Response(status=status, headers=headers, body=json.dumps(result).encode())

    def _asker(self, request: web.Request) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        """`Call.ask` for a handler's worker thread: moto asked on this loop, as the caller."""
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in DROP_REQUEST
        )
        loop = self._loop
        assert loop is not None

        def ask(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
            future = asyncio.run_coroutine_threadsafe(self._ask(headers, operation, payload), loop)
            # Bounded: a proxy stopping mid-call must not leave the worker thread waiting.
            return future.result(timeout=60)

        return ask

    async def _ask(
        self, headers: CIMultiDict[str], operation: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        assert self._session is not None
        headers = headers.copy()
        headers["X-Amz-Target"] = ECR_TARGET_PREFIX + operation
        body = json.dumps(payload).encode()
        async with self._session.post(self.upstream + "/", headers=headers, data=body) as resp:
            status, data = resp.status, await resp.read()
        try:
            answer: dict[str, Any] = json.loads(data) if data else {}
        except ValueError:
            raise AwsError("ServerException", data.decode("utf-8", "replace"), status) from None
        if status != 200:
            code = str(answer.get("__type", "ServerException")).rpartition("#")[2]
            raise AwsError(code, str(answer.get("message", "")), status)
        return answer
