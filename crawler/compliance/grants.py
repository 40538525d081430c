"""Who a resource policy (repository or registry) lets in: the grants of its Allow statements.

A statement that allows Principal `*` (or uses NotPrincipal) is open to every AWS account
unless a condition pins the caller to accounts or organisations (aws:PrincipalOrgID,
aws:PrincipalOrgPaths, aws:PrincipalAccount, aws:SourceAccount, aws:PrincipalArn, ...); then it
grants exactly those. Service principals (AWS services) are never counted as outsiders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

ACCOUNT = re.compile(r"^\d{12}$")
ARN_ACCOUNT = re.compile(r"^arn:aws[\w-]*:[\w-]*:[\w-]*:(\d{12}):")
ORG_PATH = re.compile(r"^(o-[a-z0-9]+)")
# Condition keys that restrict the caller, lower-cased as IAM compares them.
ORG_KEYS = {"aws:principalorgid", "aws:sourceorgid"}
ORG_PATH_KEYS = {"aws:principalorgpaths", "aws:sourceorgpaths"}
ACCOUNT_KEYS = {"aws:principalaccount", "aws:sourceaccount", "aws:resourceaccount"}
ARN_KEYS = {"aws:principalarn", "aws:sourcearn"}


Kind = Literal["public", "account", "organization", "unknown"]


@dataclass(frozen=True)
class Grant:
    kind: Kind
    """public: anyone; account / organization: `value` names it; unknown: a principal whose
    account cannot be told (e.g. the unique id a deleted role leaves behind)."""
    value: str
    sid: str | None
    actions: tuple[str, ...]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _account_of(principal: str) -> str | None:
    if ACCOUNT.match(principal):
        return principal
    match = ARN_ACCOUNT.match(principal)
    return match[1] if match else None


def _restrictions(condition: Any) -> list[tuple[Kind, str]]:
    """(kind, value) pairs a statement's condition pins the caller to; negated operators
    (StringNotEquals, ...) pin nothing."""
    pinned: list[tuple[Kind, str]] = []
    if not isinstance(condition, dict):
        return pinned
    for operator, keys in condition.items():
        if "not" in operator.lower() or not isinstance(keys, dict):
            continue
        for key, values in keys.items():
            name = key.lower()
            for value in _strings(values):
                if name in ORG_KEYS:
                    pinned.append(("organization", value))
                elif name in ORG_PATH_KEYS and (match := ORG_PATH.match(value)):
                    pinned.append(("organization", match[1]))
                elif name in ACCOUNT_KEYS:
                    pinned.append(("account", value))
                elif name in ARN_KEYS:
                    account = _account_of(value)
                    pinned.append(("account", account) if account else ("unknown", value))
    return pinned


def grants(document: dict[str, Any]) -> Iterator[Grant]:
    """Every grant of the policy's Allow statements."""
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid")
        actions = tuple(_strings(statement.get("Action")) or _strings(statement.get("NotAction")))
        principal = statement.get("Principal")
        everyone = "NotPrincipal" in statement or principal == "*"
        named: list[str] = []
        if isinstance(principal, dict):
            aws = _strings(principal.get("AWS"))
            everyone = everyone or "*" in aws
            named = [p for p in aws if p != "*"]
        if everyone:
            pinned = _restrictions(statement.get("Condition"))
            if not pinned:
                yield Grant("public", "*", sid, actions)
            for kind, value in pinned:
                yield Grant(kind, value, sid, actions)
        for name in named:
            account = _account_of(name)
            if account is None:
                yield Grant("unknown", name, sid, actions)
            else:
                yield Grant("account", account, sid, actions)
