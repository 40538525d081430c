"""Which accounts to scan: the account of the credentials, the configured list, or the
accounts of an AWS Organization (organizations:ListAccounts, or per OU), each with the role to
assume in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiobotocore.session import AioSession

from crawler.aws.call import Caller, open_client
from crawler.config import Config
from crawler.errors import AwsError, CrawlerError, ThrottledError


class Target(msgspec.Struct, frozen=True):
    """One account to scan; no role: the credentials' own account."""

    account_id: str
    role_arn: str | None = None
    external_id: str | None = None
    session_name: str = "ecr-crawler"


def role_in(account_id: str, role_name: str, partition: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


async def discover_accounts(
    config: Config, session: AioSession, region: str, own_account: str
) -> list[Target]:
    if config.accounts:
        return [
            Target(a.account_id, a.role_arn, a.external_id, a.session_name) for a in config.accounts
        ]
    org = config.organization
    if org is None:
        return [Target(own_account)]
    try:
        accounts = [a async for a in _organization_accounts(config, session, region)]
    except AwsError as exc:
        raise CrawlerError(
            f"cannot list the organization's accounts ({exc}): run with credentials of the "
            "management account or a delegated administrator, or list them under accounts:"
        ) from None
    found = []
    for account in accounts:
        account_id = account["Id"]
        # "Status" is being replaced by "State"; both say ACTIVE for an account to scan.
        if account.get("State", account.get("Status")) != "ACTIVE":
            continue
        if (org.include and account_id not in org.include) or account_id in org.exclude:
            continue
        found.append(
            Target(
                account_id,
                role_in(account_id, org.member_role_name, config.partition),
                org.external_id,
                org.session_name,
            )
        )
    return sorted(set(found), key=lambda t: t.account_id)


async def _organization_accounts(
    config: Config, session: AioSession, region: str
) -> AsyncIterator[dict[str, Any]]:
    assert config.organization is not None
    async with open_client(session, "organizations", region, config) as client:
        # Only throttling is retried, as for STS: a denial should be reported at once.
        pages = Caller(client, config, retry_on=ThrottledError).pages
        if not config.organization.ous:
            async for account in pages("list_accounts", "Accounts", token="NextToken"):
                yield account
            return
        parents = list(config.organization.ous)
        while parents:  # an OU covers its child OUs too
            parent = parents.pop()
            async for account in pages(
                "list_accounts_for_parent", "Accounts", token="NextToken", ParentId=parent
            ):
                yield account
            async for child in pages(
                "list_organizational_units_for_parent",
                "OrganizationalUnits",
                token="NextToken",
                ParentId=parent,
            ):
                parents.append(child["Id"])
