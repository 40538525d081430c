"""STS: GetCallerIdentity and AssumeRole. The account comes from the access key (see
registry.access_key); AssumeRole issues temporary keys of the role's account under the same
scheme (`ASIA` + account + 4 characters), and remembers which role and session each names, so
that GetCallerIdentity with them answers the assumed-role ARN.

No trust policies are modelled: any caller may assume any role in any of the scenario's
accounts (role chaining included); a role in another account is AccessDenied.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.simulator.wire import ApiError

# arn:aws:iam::123456789012:role/path/name: the account and the role's name (its last part).
ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
DEFAULT_DURATION = 3600


class Sts:
    """The STS operations; a member value that is a dict is a nested structure, a datetime a
    timestamp (ISO 8601 in awsQuery, epoch seconds in awsJson1_0)."""

    def __init__(self, accounts: list[str]) -> None:
        self.accounts = frozenset(accounts)
        # Temporary access key -> the assumed-role ARN it authenticates as.
        self.sessions: dict[str, str] = {}

    def call(
        self, operation: str, account: str, access_key: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        if operation == "GetCallerIdentity":
            return self.caller_identity(account, access_key)
        if operation == "AssumeRole":
            return self.assume_role(account, access_key, params)
        raise ApiError(
            "InvalidAction",
            f"Could not find operation {operation} for version 2011-06-15",
            query_code="InvalidAction",
        )

    def caller_identity(self, account: str, access_key: str) -> dict[str, Any]:
        arn = self.sessions.get(access_key)
        if arn is None:
            return {
                "UserId": f"AIDA{account}BENCH",
                "Account": account,
                "Arn": f"arn:aws:iam::{account}:user/bench",
            }
        session = arn.rpartition("/")[2]
        return {"UserId": f"AROA{account}BENCH:{session}", "Account": account, "Arn": arn}

    def assume_role(self, account: str, access_key: str, params: dict[str, Any]) -> dict[str, Any]:
        role_arn = str(params.get("RoleArn") or "")
        session = str(params.get("RoleSessionName") or "")
        match = ROLE_ARN.match(role_arn)
        if match is None:
            raise _validation(f"{role_arn!r} is not a valid role ARN")
        if not SESSION_NAME.match(session):
            raise _validation("RoleSessionName must be 2-64 characters of [\\w+=,.@-]")
        duration = int(params.get("DurationSeconds") or DEFAULT_DURATION)
        if not 900 <= duration <= 43200:
            raise _validation("DurationSeconds must be within 900..43200")
        target, name = match[1], match[2]
        if target not in self.accounts:
            caller = self.caller_identity(account, access_key)["Arn"]
            raise ApiError(
                "AccessDenied",
                f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: "
                f"{role_arn}",
                403,
            )
        arn = f"arn:aws:sts::{target}:assumed-role/{name}/{session}"
        digest = hashlib.blake2b(f"{access_key}|{arn}".encode(), digest_size=30).digest()
        key = f"ASIA{target}{base64.b32encode(digest[:5]).decode()[:4]}"
        self.sessions[key] = arn
        return {
            "Credentials": {
                "AccessKeyId": key,
                "SecretAccessKey": base64.b64encode(digest).decode()[:40],
                "SessionToken": "FwoGZXIvYXdzEBench" + base64.b64encode(digest * 4).decode(),
                "Expiration": datetime.now(UTC).replace(microsecond=0)
                + timedelta(seconds=duration),
            },
            "AssumedRoleUser": {"AssumedRoleId": f"AROA{target}BENCH:{session}", "Arn": arn},
        }


def _validation(message: str) -> ApiError:
    return ApiError("ValidationError", message, query_code="ValidationError")
