"""The AWS session: the standard credential chain, an optional assumed role with refreshing
credentials, the caller's identity and the regions to scan."""

from __future__ import annotations

import os
import re
from functools import partial
from typing import Any

import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from crawler import __version__
from crawler.aws.errors import translate
from crawler.aws.retry import retrying
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


def client_config(config: Config, pool_size: int = 10) -> AioConfig:
    """Client settings shared by every client; retries are ours (tenacity), not botocore's."""
    return AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=config.timeouts.connect_seconds,
        read_timeout=config.timeouts.read_seconds,
        max_pool_connections=pool_size,
        user_agent_appid=f"ecr-crawler/{__version__}",
    )


async def open_session(
    config: Config, region: str, session: AioSession | None = None
) -> AioSession:
    """A session on the standard chain (or `session`, as given), switched to `auth.role_arn`
    with refreshing credentials when configured. `region` is where STS is called."""
    session = session or AioSession()
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
    assumed = AioSession()
    # One loader for all: a new session would read botocore's JSON models again, about a
    # quarter of a CPU second per account of an organization.
    assumed.register_component("data_loader", source.get_component("data_loader"))
    # botocore has no public setter for refreshing credentials; this is how its own
    # assume-role provider installs them.
    assumed._credentials = AioDeferredRefreshableCredentials(  # type: ignore[attr-defined]
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    return assumed


async def get_identity(
    session: AioSession, config: Config, region: str, role_arn: str | None = None
) -> Identity:
    """sts:GetCallerIdentity, once: proves the credentials (and the assumed `role_arn`, by
    default auth.role_arn) and gives the account id."""
    try:
        return await _caller_identity(session, config, region, role_arn)
    except BotoCoreError as exc:  # the client could not be made: bad AWS configuration
        raise _identity_error(translate(exc, "GetCallerIdentity"), role_arn) from None
    except ValueError as exc:  # botocore's "Invalid endpoint: ..."
        raise ConfigError(
            f"{exc}: endpoint_url, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_STS must be URLs "
            "such as https://sts.us-east-1.amazonaws.com"
        ) from None


async def _caller_identity(
    session: AioSession, config: Config, region: str, role_arn: str | None
) -> Identity:
    role_arn = role_arn or config.auth.role_arn
    async with session.create_client(
        "sts", region_name=region, endpoint_url=config.endpoint_url, config=client_config(config)
    ) as sts:
        # Only throttling is retried: many CI jobs may start at once, while an unreachable
        # endpoint or bad credentials at the start should be reported at once.
        async for attempt in retrying(config.retry, on=ThrottledError):
            with attempt:
                try:
                    reply = await sts.get_caller_identity()
                except (ClientError, BotoCoreError) as exc:
                    error = translate(exc, "GetCallerIdentity")
                    raise _identity_error(error, role_arn) from None
    return Identity(account_id=reply["Account"], arn=reply["Arn"])


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
    if config.regions == "all":
        regions = await session.get_available_regions("ecr", config.partition)
        return sorted(regions), True
    if config.regions:
        return list(dict.fromkeys(config.regions)), False
    region = default_region(session)
    if region is None:
        raise ConfigError(
            "no region to scan: pass --regions (e.g. --regions us-east-1,eu-west-1 or "
            "--regions all), set regions in the config, or set AWS_REGION"
        )
    return [region], False
