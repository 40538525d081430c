"""The AWS session: the standard credential chain, an optional assumed role with refreshing
credentials, the caller's identity and the regions to scan; and the sessions of the accounts'
roles, assumed through one STS client per scan. Every session of a scan shares what botocore
builds once (handlers, service models, parsers, one TLS context): an account costs its
credentials and its clients, nothing more."""

from __future__ import annotations

import difflib
import os
import re
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar

import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
    AioRefreshableCredentials,
)
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, NoCredentialsError
from botocore.utils import parse_timestamp as botocore_timestamp

from crawler.aws.call import Caller, client_config, open_client
from crawler.aws.errors import translate
from crawler.aws.regions import partition_regions
from crawler.config import REGION_PATTERN, Config
from crawler.errors import (
    AwsError,
    ConfigError,
    CrawlerError,
    CredentialsError,
    ThrottledError,
)


class Identity(msgspec.Struct, frozen=True):
    account_id: str
    arn: str


async def open_session(
    config: Config, region: str, session: AioSession | None = None
) -> AioSession:
    """A session on the standard chain (or `session`, as given), switched to `auth.role_arn`
    with refreshing credentials when configured. `region` is where STS is called."""
    session = session or AioSession()
    fast_timestamps(session)
    share_tls(session)
    auth = config.auth
    if auth.role_arn is None:
        return session
    return await assume_role(
        session, config, region, auth.role_arn, auth.external_id, auth.session_name
    )


async def assume_role(
    source: AioSession,
    config: Config,
    region: str,
    role_arn: str,
    external_id: str | None,
    session_name: str,
) -> AioSession:
    """A session with refreshing credentials of `role_arn`, assumed from `source`'s (which may
    be an assumed role itself: role chaining). Nothing is called until first use."""
    session = source
    credentials = await source.get_credentials()
    if credentials is None:
        raise translate(NoCredentialsError(), "AssumeRole") from None
    extra: dict[str, Any] = {
        "RoleSessionName": session_name,
        "DurationSeconds": config.auth.duration_seconds,
    }
    if external_id:
        extra["ExternalId"] = external_id
    fetcher = AioAssumeRoleCredentialFetcher(
        client_creator=partial(  # type: ignore[arg-type]  # aiobotocore's context manager
            session.create_client,
            region_name=region,
            endpoint_url=config.endpoint_url,
            config=client_config(config),
        ),
        source_credentials=credentials,
        role_arn=role_arn,
        extra_args=extra,
    )
    refreshing = AioDeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    return role_session(source, refreshing)


def role_session(source: AioSession, credentials: AioRefreshableCredentials) -> AioSession:
    """A session of `credentials` that shares all else with `source`: its event hooks (a new
    session registers botocore's 300 builtin handlers again, 18 ms of CPU), its loader (service
    models parsed once), parsers and client defaults (one TLS context). Clients copy the hooks
    when they are made, so nothing registered on a client reaches the others."""
    hooks = source.get_component("event_emitter")
    session = AioSession(event_hooks=hooks, include_builtin_handlers=False)
    for component in ("data_loader", "response_parser_factory"):
        session.register_component(component, source.get_component(component))
    session.set_default_client_config(source.get_default_client_config())
    # botocore has no public setter for refreshing credentials; this is how its own
    # assume-role provider installs them.
    session._credentials = credentials  # type: ignore[attr-defined]
    return session


class RoleAssumer:
    """Assumes the accounts' roles from one source session through one STS client (a client
    per role cost more CPU than the role's calls). AssumeRole's answer names the assumed role,
    so no GetCallerIdentity follows it; the credentials are refreshed through the same client
    before they expire, as botocore refreshes any: from 15 minutes before, by the first
    call that needs them."""

    def __init__(self, source: AioSession, sts: Caller) -> None:
        self._source = source
        self._sts = sts

    async def assume(
        self, config: Config, role_arn: str, external_id: str | None, session_name: str
    ) -> tuple[AioSession, str]:
        """A session of `role_arn` and the assumed role's ARN (the principal); a role that
        cannot be assumed is a CredentialsError naming it."""
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": session_name,
            "DurationSeconds": config.auth.duration_seconds,
        }
        if external_id:
            params["ExternalId"] = external_id
        try:
            reply = await self._sts.call("assume_role", **params)
        except CrawlerError as exc:
            raise _identity_error(exc, role_arn) from None
        credentials = AioRefreshableCredentials.create_from_metadata(
            _metadata(reply), refresh_using=partial(self._refresh, params), method="assume-role"
        )
        return role_session(self._source, credentials), reply["AssumedRoleUser"]["Arn"]

    async def _refresh(self, params: dict[str, Any]) -> dict[str, Any]:
        return _metadata(await self._sts.call("assume_role", **params))


def _metadata(reply: dict[str, Any]) -> dict[str, Any]:
    """AssumeRole's credentials as botocore's refreshable credentials take them."""
    credentials = reply["Credentials"]
    expiry = credentials["Expiration"]
    return {
        "access_key": credentials["AccessKeyId"],
        "secret_key": credentials["SecretAccessKey"],
        "token": credentials["SessionToken"],
        "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
    }


@asynccontextmanager
async def assuming_roles(
    source: AioSession, config: Config, region: str
) -> AsyncIterator[RoleAssumer]:
    """A RoleAssumer for one scan, its STS client called in `region` and closed on leaving
    (so the roles' credentials are refreshed only while the scan runs). The endpoint and the
    source credentials were proved by GetCallerIdentity already: a timeout or a 5xx is retried
    here, not taken for an account whose role cannot be assumed."""
    async with open_client(source, "sts", region, config, config.concurrency.accounts) as sts:
        yield RoleAssumer(source, Caller(sts, config))


async def get_identity(session: AioSession, config: Config, region: str) -> Identity:
    """sts:GetCallerIdentity, once: proves the credentials (and auth.role_arn's, when it is
    set) and gives the account id."""
    try:
        async with open_client(session, "sts", region, config) as sts:
            # Only throttling is retried: many CI jobs may start at once, while an
            # unreachable endpoint or bad credentials at the start should be reported at once.
            reply = await Caller(sts, config, retry_on=ThrottledError).call("get_caller_identity")
    except CrawlerError as exc:
        raise _identity_error(exc, config.auth.role_arn) from None
    return Identity(account_id=reply["Account"], arn=reply["Arn"])


def fast_timestamps(session: AioSession) -> None:
    """botocore turns each epoch timestamp into local time through dateutil's tzlocal, about
    50 us apiece and most of the cost of a page; records want UTC anyway. Set once per
    session (assumed-role sessions share the component)."""
    session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )


def share_tls(session: AioSession) -> None:
    """Make `session`'s clients (and its role sessions') share one TLS context: each botocore
    client otherwise builds its own and loads the CA bundle into it, 50 ms of CPU and 0.7 MB
    that it holds as long as it lives, three times an account. A default client config the
    caller set on `session` is kept as it is."""
    if session.get_default_client_config() is None:
        session.set_default_client_config(AioConfig(http_session_cls=SharedTLSSession))


class SharedTLSSession(AIOHTTPSession):
    """aiobotocore's HTTP session, with the TLS context of its verify setting built once per
    process. A client certificate or a proxy gets contexts of its own, as before.
    (`_build_ssl_contexts` is aiobotocore's; should it go, each client builds its own again.
    aiobotocore's `connector_args={"ssl_context": ...}` clashes with the context it passes
    itself in 3.10.)"""

    _contexts: ClassVar[dict[bool | str, ssl.SSLContext]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()
    # Set by aiobotocore's __init__; its stubs do not declare them.
    _verify: bool | str
    _cert_file: str | None

    def _build_ssl_contexts(self, proxy_url: str | None) -> tuple[Any, Any]:
        base: Any = super()  # the stubs do not declare these methods either
        if self._cert_file or proxy_url:
            contexts: tuple[Any, Any] = base._build_ssl_contexts(proxy_url)
            return contexts
        # Built in worker threads, all at once when a scan starts: the first one builds.
        with self._lock:
            context = self._contexts.get(self._verify)
            if context is None:
                context = self._contexts[self._verify] = base._build_verify_context()
        return context, None


def parse_timestamp(value: Any) -> datetime:
    """AWS's timestamps as aware UTC datetimes: epoch seconds (JSON protocols) the fast way,
    anything else (ISO 8601 strings) through botocore."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return botocore_timestamp(value).astimezone(UTC)


def _identity_error(error: Exception, role_arn: str | None) -> Exception:
    """Whatever stops GetCallerIdentity (or the AssumeRole before it) stops the whole scan."""
    if isinstance(error, CredentialsError | ThrottledError | ConfigError):
        return error
    if isinstance(error, AwsError) and error.operation == "AssumeRole":
        return CredentialsError(f"cannot assume role {role_arn}: {error}")
    return CrawlerError(f"cannot verify the credentials with sts:GetCallerIdentity: {error}")


def default_region(session: AioSession) -> str | None:
    """The region of the profile or AWS_DEFAULT_REGION (botocore's), else AWS_REGION."""
    try:
        region = session.get_config_variable("region") or os.environ.get("AWS_REGION")
    except BotoCoreError as exc:
        raise translate(exc) from None
    if region and not re.fullmatch(REGION_PATTERN, str(region)):
        raise ConfigError(
            f"region '{region}' (from AWS_DEFAULT_REGION, AWS_REGION or the profile) is not a "
            "region name such as us-east-1"
        )
    return str(region) if region else None


# STS is called in a region always enabled: "all" may list opt-in regions first.
PARTITION_HOME = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


def sts_region(config: Config, session: AioSession) -> str:
    return default_region(session) or PARTITION_HOME[config.partition]


async def resolve_regions(config: Config, session: AioSession) -> tuple[list[str], bool]:
    """The regions to scan, and whether they came from "all" (which skips disabled ones)."""
    known = partition_regions(config.partition)
    if config.regions == "all":
        return known, True
    if config.regions:
        regions = list(dict.fromkeys(config.regions))
        source = "--regions or regions:"
    else:
        region = default_region(session)
        if region is None:
            raise ConfigError(
                "no region to scan: pass --regions (e.g. --regions us-east-1,eu-west-1 or "
                "--regions all), set regions in the config, or set AWS_REGION"
            )
        regions = [region]
        source = "AWS_DEFAULT_REGION, AWS_REGION or the profile"
    if not config.unlisted_regions:
        for region in regions:
            _check_listed(region, known, config.partition, source)
    return regions, False


def _check_listed(region: str, known: list[str], partition: str, source: str) -> None:
    """A region botocore does not list would be retried until it times out: say so at once."""
    if region in known:
        return
    hint = difflib.get_close_matches(region, known, n=1)
    raise ConfigError(
        f"region '{region}' (from {source}) is not an ECR region of partition {partition}"
        + (f" (did you mean '{hint[0]}'?)" if hint else "")
        + "; `ecr-crawler regions` lists them. A region newer than the installed botocore: "
        "upgrade botocore, or set unlisted_regions: true"
    )
