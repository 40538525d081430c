"""The AWS session: the standard credential chain, an optional assumed role with refreshing
credentials, the caller's identity and the regions to scan."""

from __future__ import annotations

import difflib
import os
import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

import msgspec
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
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
    for component in ("data_loader", "response_parser_factory"):
        assumed.register_component(component, source.get_component(component))
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
    role_arn = role_arn or config.auth.role_arn
    try:
        async with open_client(session, "sts", region, config) as sts:
            # Only throttling is retried: many CI jobs may start at once, while an
            # unreachable endpoint or bad credentials at the start should be reported at once.
            reply = await Caller(sts, config, retry_on=ThrottledError).call("get_caller_identity")
    except CrawlerError as exc:
        raise _identity_error(exc, role_arn) from None
    return Identity(account_id=reply["Account"], arn=reply["Arn"])


def fast_timestamps(session: AioSession) -> None:
    """botocore turns each epoch timestamp into local time through dateutil's tzlocal, about
    50 us apiece and most of the cost of a page; records want UTC anyway. Set once per
    session (assumed-role sessions share the component)."""
    session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )


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
