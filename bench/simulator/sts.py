"""STS GetCallerIdentity: the account comes from the access key (see registry.access_key)."""

from __future__ import annotations

import msgspec

from bench.simulator.wire import ApiError


class CallerIdentity(msgspec.Struct, gc=False):
    UserId: str
    Account: str
    Arn: str


def caller_identity(account: str, operation: str) -> CallerIdentity:
    if operation != "GetCallerIdentity":
        raise ApiError(
            "InvalidAction",
            f"Could not find operation {operation} for version 2011-06-15",
            query_code="InvalidAction",
        )
    return CallerIdentity(
        UserId=f"AIDA{account}BENCH",
        Account=account,
        Arn=f"arn:aws:iam::{account}:user/bench",
    )
