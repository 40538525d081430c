"""The credentials a session finds on the standard chain, as plain values: which provider gave
them (for advice) and the secrets the log redactor must know. botocore's complaints about the AWS
setup (a missing profile, a malformed config file, half a key pair) are translated here, where
they are raised."""

from __future__ import annotations

import msgspec
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from crawler.aws.errors import translate

# The session type the rest of the crawler passes around without importing botocore.
Session = AioSession


class Credentials(msgspec.Struct, frozen=True):
    # botocore's provider name: "env", "shared-credentials-file", "assume-role", ...
    method: str
    access_key: str
    secret_key: str
    token: str | None


def new_session() -> Session:
    """A session on the standard chain: AWS_* variables, profiles, container and instance
    roles, web identity. Nothing is read until it is first used."""
    return AioSession()


async def read_credentials(session: Session) -> Credentials | None:
    """The session's credentials (None when the chain finds none), resolved now."""
    try:
        found = await session.get_credentials()
        if found is None:
            return None
        frozen = await found.get_frozen_credentials()
    except (BotoCoreError, ClientError) as exc:
        raise translate(exc) from None
    return Credentials(
        found.method or "unknown", frozen.access_key or "", frozen.secret_key or "", frozen.token
    )
