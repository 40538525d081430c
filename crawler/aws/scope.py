"""What a command acts on, resolved once: the regions, the session (with auth.role_arn assumed),
the caller's identity and the accounts to scan. `scan`, `plan` and `permissions` all start here."""

from __future__ import annotations

import msgspec
from aiobotocore.session import AioSession

from crawler.aws.accounts import Target, discover_accounts
from crawler.aws.session import Identity, get_identity, open_session, resolve_regions, sts_region
from crawler.config import Config


class Scope(msgspec.Struct, frozen=True):
    regions: list[str]
    # The regions came from "all": a region the account has not enabled is skipped, not failed.
    from_all: bool
    # Where STS (and Organizations) are called.
    home: str
    session: AioSession
    identity: Identity
    targets: list[Target]


async def open_scope(
    config: Config, base: AioSession | None = None, *, accounts: bool = True
) -> Scope:
    """Resolve the scope of `config`: raises ConfigError or CredentialsError before any ECR
    call when the regions or credentials are wrong. `accounts=False` skips discovery (the
    credentials' own account only)."""
    base = base or AioSession()
    regions, from_all = await resolve_regions(config, base)
    home = sts_region(config, base)
    session = await open_session(config, home, base)
    identity = await get_identity(session, config, home)
    if accounts:
        targets = await discover_accounts(config, session, home, identity.account_id)
    else:
        targets = [Target(identity.account_id)]
    return Scope(regions, from_all, home, session, identity, targets)
