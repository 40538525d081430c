"""The HTTP side: one aiohttp application on 127.0.0.1 that answers ECR, STS and Amazon
Inspector calls.

A call goes: seeded faults (connection reset, 5xx) -> credentials (the account from the access
key) -> seeded throttles (others draining a shared quota) -> the quota of (account, region,
operation), which another client may share -> the operation -> the scenario's latency,
counted from the request's arrival so that the simulator's own work is part of it, not added.
Throttled and failed calls also wait the base latency: they cost a round trip too.

`/_sim/stats` (GET) and `/_sim/reset` (POST) let a benchmark read and clear the counters
between runs; no AWS client ever calls them.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import struct
import time
from typing import Any

import msgspec
from aiohttp import web

from bench.simulator.ecr import Ecr
from bench.simulator.inspector import Inspector
from bench.simulator.paging import Pager
from bench.simulator.quota import Quotas
from bench.simulator.registry import Registry, account_of
from bench.simulator.scanning import ScanOperations
from bench.simulator.scenario import Scenario
from bench.simulator.settings import SettingsOperations
from bench.simulator.sts import Sts
from bench.simulator.wire import (
    ECR_JSON,
    REST_JSON,
    STS_JSON,
    ApiError,
    Call,
    bad_credentials,
    json_body,
    json_error,
    json_result,
    missing_credentials,
    parse_call,
    query_error,
    query_params,
    query_result,
    request_id,
    server_error,
    throttled,
)

HOST = "127.0.0.1"


class Stats(msgspec.Struct):
    """What the simulator saw since the last reset, per operation or error code."""

    calls: dict[str, int] = msgspec.field(default_factory=dict)
    throttled: dict[str, int] = msgspec.field(default_factory=dict)
    errors: dict[str, int] = msgspec.field(default_factory=dict)
    faults: dict[str, int] = msgspec.field(default_factory=dict)
    items: dict[str, int] = msgspec.field(default_factory=dict)
    # When each operation's first and last call arrived, in seconds since the reset.
    first: dict[str, float] = msgspec.field(default_factory=dict)
    last: dict[str, float] = msgspec.field(default_factory=dict)
    cpu_seconds: float = 0.0  # of the simulator's process, at the time of the snapshot
    # The other clients of quotas with a `background`: their calls, and how many were throttled.
    background_calls: int = 0
    background_throttled: int = 0

    def total(self, counter: str, exclude: tuple[str, ...] = ()) -> int:
        return sum(n for k, n in getattr(self, counter).items() if k not in exclude)


def _add(counter: dict[str, int], key: str, n: int = 1) -> None:
    counter[key] = counter.get(key, 0) + n


class Simulator:
    """The ECR + STS (+ Inspector) simulator of one scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.registry = Registry(scenario)
        secret = hashlib.sha256(f"tokens/{scenario.seed}".encode()).digest()
        self.ecr = Ecr(self.registry, Pager(secret, scenario.page_cap))
        ScanOperations(self.ecr)
        SettingsOperations(self.ecr)
        self.inspector = Inspector(self.registry, self.ecr.pager)
        self.sts = Sts(scenario.accounts)
        self.quotas = Quotas(scenario)
        self.stats = Stats()
        self._epoch = time.perf_counter()
        self._latency = random.Random(scenario.seed)
        self._faults = random.Random(scenario.seed + 1)

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_sim/stats", self._get_stats)
        app.router.add_post("/_sim/reset", self._post_reset)
        app.router.add_route("*", "/{tail:.*}", self._aws)
        return app

    async def start(self, port: int = 0) -> tuple[web.AppRunner, str]:
        """Serve on 127.0.0.1 (`port` 0: any free port); returns the runner and the URL."""
        # A short shutdown: a call still sleeping out its latency is not worth waiting for.
        runner = web.AppRunner(
            self.application(), access_log=None, handle_signals=False, shutdown_timeout=1
        )
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()
        return runner, f"http://{HOST}:{runner.addresses[0][1]}"

    def reset(self) -> None:
        """Counters cleared, buckets full, random draws from the start: a fresh simulator."""
        self.stats = Stats()
        self._epoch = time.perf_counter()
        self.quotas.reset()
        self._latency.seed(self.scenario.seed)
        self._faults.seed(self.scenario.seed + 1)

    # -- admin --------------------------------------------------------------------------------

    async def _get_stats(self, request: web.Request) -> web.Response:
        self.stats.cpu_seconds = time.process_time()
        self.stats.background_calls = self.quotas.background_calls
        self.stats.background_throttled = self.quotas.background_throttled
        return web.Response(body=msgspec.json.encode(self.stats), content_type="application/json")

    async def _post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.Response(text="ok")

    # -- AWS ----------------------------------------------------------------------------------

    async def _aws(self, request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter()
        try:
            body = await request.read()
        except ConnectionError:
            # The client went away mid-request (a tool stopped at its time cap): no one to answer.
            return web.Response(status=400)
        headers = request.headers
        call = parse_call(
            headers.get("X-Amz-Target", ""),
            headers.get("Authorization", ""),
            body,
            request.method,
            request.path,
        )
        if call is None:
            error = ApiError("UnknownOperationException", "Not ECR, STS or Inspector")
            status, out, data = json_error(error)
            return web.Response(status=status, headers=out, body=data)
        _add(self.stats.calls, call.operation, 1)
        since = arrived - self._epoch
        self.stats.first.setdefault(call.operation, since)
        self.stats.last[call.operation] = since
        faults = self.scenario.faults
        if faults.reset_rate and self._faults.random() < faults.reset_rate:
            _add(self.stats.faults, "reset", 1)
            return _reset_connection(request)
        items = 0
        try:
            if faults.server_error_rate and self._faults.random() < faults.server_error_rate:
                _add(self.stats.faults, "server_error", 1)
                raise server_error()
            account = self._account(call)
            if faults.throttle_rate and self._faults.random() < faults.throttle_rate:
                _add(self.stats.faults, "throttle", 1)
                _add(self.stats.throttled, call.operation, 1)
                raise throttled()
            if not self.quotas.take(account, call.region, call.operation):
                _add(self.stats.throttled, call.operation, 1)
                raise throttled()
            status, out, data, items = self._answer(call, account, body)
            _add(self.stats.items, call.operation, items)
        except ApiError as error:
            if error.code != "ThrottlingException":
                _add(self.stats.errors, error.code, 1)
            render = json_error if call.protocol == "json" else query_error
            status, out, data = render(error)
        await self._wait(arrived, items)
        out["x-amzn-RequestId"] = request_id()
        return web.Response(status=status, headers=out, body=data)

    def _answer(
        self, call: Call, account: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes, int]:
        if call.protocol == "query":
            members = self.sts.call(call.operation, account, call.access_key, query_params(body))
            return 200, {"Content-Type": "text/xml"}, query_result(call.operation, members), 1
        try:
            payload: dict[str, Any] = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError:
            raise ApiError("SerializationException", "Malformed JSON body") from None
        if call.service == "sts":
            members = self.sts.call(call.operation, account, call.access_key, payload)
            return 200, {"Content-Type": STS_JSON}, json_result(members), 1
        if call.service == "inspector2":
            answer, items = self.inspector.call(call.operation, account, call.region, payload)
            return 200, {"Content-Type": REST_JSON}, json_body(answer), items
        shape, items = self.ecr.call(call.operation, account, call.region, payload)
        return 200, {"Content-Type": ECR_JSON}, json_body(shape), items

    def _account(self, call: Call) -> str:
        """The caller's account: its access key must be one of the scenario's accounts'."""
        if not call.access_key:
            raise missing_credentials()
        account = account_of(call.access_key)
        if account is None or account not in self.scenario.accounts:
            raise bad_credentials()
        return account

    async def _wait(self, arrived: float, items: int) -> None:
        latency = self.scenario.latency
        target = latency.seconds(items)
        if latency.jitter_ms:
            target += self._latency.random() * latency.jitter_ms / 1e3
        remaining = target - (time.perf_counter() - arrived)
        if remaining > 0:
            await asyncio.sleep(remaining)


def _reset_connection(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    # Linger 0 makes the close send RST, which the client sees as a connection reset.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # aiohttp drops this quietly: the transport is gone.
    return web.Response(status=500)
