"""A lifecycle policy document read into frozen rules, checked as ECR checks it before it takes
one: every rule that AWS would reject is one line of `PolicyError`, naming the rule and the
property. Each check cites its sentence of the User Guide in docs/lifecycle.md."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from crawler.errors import ConfigError

TagStatus = Literal["tagged", "untagged", "any"]
CountType = Literal[
    "imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"
]
StorageClass = Literal["standard", "archive"]
ActionType = Literal["expire", "transition"]

TAG_STATUSES: tuple[TagStatus, ...] = ("tagged", "untagged", "any")
COUNT_TYPES: tuple[CountType, ...] = (
    "imageCountMoreThan",
    "sinceImagePushed",
    "sinceImagePulled",
    "sinceImageTransitioned",
)
AGE_TYPES = frozenset(COUNT_TYPES[1:])
# The botocore model's LifecyclePolicyText: 100 to 30,720 characters.
TEXT_LENGTH = (100, 30_720)
MAX_WILDCARDS = 4
# "Images must be in archive storage for a minimum of 90 days before deletion."
ARCHIVE_MINIMUM_DAYS = 90
RULE_KEYS = frozenset({"rulePriority", "description", "selection", "action"})
SELECTION_KEYS = frozenset(
    {
        "tagStatus",
        "tagPatternList",
        "tagPrefixList",
        "storageClass",
        "countType",
        "countUnit",
        "countNumber",
    }
)
ACTION_KEYS = frozenset({"type", "targetStorageClass"})


class PolicyError(ConfigError):
    """A policy ECR would refuse: one line per invalid rule (or for the document)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Rule:
    priority: int
    description: str
    tag_status: TagStatus
    tag_prefixes: tuple[str, ...]
    tag_patterns: tuple[str, ...]
    storage_class: StorageClass
    count_type: CountType
    count_number: int
    action: ActionType

    def label(self) -> str:
        return f"rule {self.priority}" + (f" ({self.description})" if self.description else "")


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules in priority order (lowest rulePriority first)."""

    rules: tuple[Rule, ...]


class _Invalid(Exception):
    pass


def load_policy(path: str) -> Policy:
    """The policy in the file at `path`; PolicyError when ECR would refuse it."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the policy: {exc.strerror}") from None
    return parse_policy(text, source=path)


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """The policy JSON text ECR would take (PutLifecyclePolicy's lifecyclePolicyText)."""
    low, high = TEXT_LENGTH
    if not low <= len(text) <= high:
        raise PolicyError(
            source, [f"the text is {len(text)} characters; ECR takes {low} to {high}"]
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(source, [f"not JSON: {exc}"]) from None
    return policy_of(document, source=source)


def policy_of(document: Any, *, source: str = "policy") -> Policy:
    """The policy of a parsed document: a saved scan's lifecycle_policy, or a file's."""
    if not isinstance(document, dict) or set(document) != {"rules"}:
        raise PolicyError(source, ['expected an object with one key, "rules"'])
    raw = document["rules"]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(source, ['"rules" must be a list of at least one rule'])
    rules: list[Rule] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        try:
            rules.append(_rule(item))
        except _Invalid as exc:
            problems.append(f"{_name(item, index)}: {exc}")
    problems += _across(rules)
    if problems:
        raise PolicyError(source, problems)
    return Policy(tuple(sorted(rules, key=lambda r: r.priority)))


def _name(item: Any, index: int) -> str:
    priority = item.get("rulePriority") if isinstance(item, dict) else None
    return f"rule {priority}" if isinstance(priority, int) else f"rules[{index}]"


def _keys(value: Any, where: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"{where} must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _Invalid(f"{where} has properties ECR does not know: {', '.join(unknown)}")
    return value


def _rule(item: Any) -> Rule:
    rule = _keys(item, "the rule", RULE_KEYS)
    for key in ("rulePriority", "selection", "action"):
        if key not in rule:
            raise _Invalid(f"{key} is required")
    priority = rule["rulePriority"]
    if not _integer(priority) or priority < 1:
        raise _Invalid(f"rulePriority must be an integer >= 1, got {priority!r}")
    description = rule.get("description", "")
    if not isinstance(description, str):
        raise _Invalid("description must be a string")
    selection = _keys(rule["selection"], "selection", SELECTION_KEYS)
    action = _keys(rule["action"], "action", ACTION_KEYS)
    tag_status, prefixes, patterns = _tags(selection)
    count_type, count_number, storage = _count(selection)
    action_type = _action(action, count_type, count_number)
    return Rule(
        priority,
        description,
        tag_status,
        prefixes,
        patterns,
        storage,
        count_type,
        count_number,
        action_type,
    )


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _Invalid(f"{key} must be a list of at least one non-empty string")
    return tuple(value)


def _tags(selection: dict[str, Any]) -> tuple[TagStatus, tuple[str, ...], tuple[str, ...]]:
    status = selection.get("tagStatus")
    if status not in TAG_STATUSES:
        raise _Invalid(f"tagStatus must be tagged, untagged or any, got {status!r}")
    has_prefixes, has_patterns = "tagPrefixList" in selection, "tagPatternList" in selection
    if status != "tagged":
        if has_prefixes or has_patterns:
            raise _Invalid(f'tagStatus "{status}" takes no tagPrefixList or tagPatternList')
        return status, (), ()
    if has_prefixes and has_patterns:
        raise _Invalid("a rule takes tagPatternList or tagPrefixList, not both")
    if not has_prefixes and not has_patterns:
        raise _Invalid('tagStatus "tagged" needs a tagPatternList or a tagPrefixList')
    if has_prefixes:
        return status, _strings(selection["tagPrefixList"], "tagPrefixList"), ()
    patterns = _strings(selection["tagPatternList"], "tagPatternList")
    for pattern in patterns:
        if pattern.count("*") > MAX_WILDCARDS:
            raise _Invalid(f"tag pattern {pattern!r} has more than {MAX_WILDCARDS} wildcards")
    return status, (), patterns


def _count(selection: dict[str, Any]) -> tuple[CountType, int, StorageClass]:
    count_type = selection.get("countType")
    if count_type not in COUNT_TYPES:
        raise _Invalid(f"countType must be one of {', '.join(COUNT_TYPES)}, got {count_type!r}")
    number = selection.get("countNumber")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise _Invalid(f"countNumber must be a positive integer, got {number!r}")
    unit = selection.get("countUnit")
    if count_type in AGE_TYPES and unit != "days":
        raise _Invalid(f'{count_type} needs countUnit "days", got {unit!r}')
    if count_type not in AGE_TYPES and "countUnit" in selection:
        raise _Invalid(
            "countUnit is only for sinceImagePushed, sinceImagePulled and sinceImageTransitioned"
        )
    storage = selection.get("storageClass", "standard")
    if count_type == "sinceImageTransitioned":
        if storage != "archive":
            raise _Invalid('sinceImageTransitioned needs storageClass "archive"')
        if number < ARCHIVE_MINIMUM_DAYS:
            raise _Invalid(
                f"sinceImageTransitioned countNumber must be at least {ARCHIVE_MINIMUM_DAYS} "
                "(the archive's minimum storage duration)"
            )
    elif storage != "standard":
        raise _Invalid(f'{count_type} takes only storageClass "standard", got {storage!r}')
    return count_type, number, "archive" if storage == "archive" else "standard"


def _action(action: dict[str, Any], count_type: CountType, count_number: int) -> ActionType:
    kind = action.get("type")
    if kind not in ("expire", "transition"):
        raise _Invalid(f"action type must be expire or transition, got {kind!r}")
    if kind == "transition":
        if action.get("targetStorageClass") != "archive":
            raise _Invalid('a transition needs targetStorageClass "archive"')
        if count_type == "sinceImageTransitioned":
            raise _Invalid("sinceImageTransitioned takes the expire action only")
    elif count_type == "sinceImagePulled":
        raise _Invalid("sinceImagePulled takes the transition action only, not expire")
    return "transition" if kind == "transition" else "expire"


def _across(rules: Iterable[Rule]) -> list[str]:
    """What the rules may not do together, per storage class: unique priorities, one untagged
    rule, a unique set of tag prefixes (and patterns), an `any` rule last."""
    problems: list[str] = []
    seen_priorities: set[int] = set()
    by_class: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.priority in seen_priorities:
            problems.append(f"rule {rule.priority}: rulePriority {rule.priority} is used twice")
        seen_priorities.add(rule.priority)
        by_class.setdefault(rule.storage_class, []).append(rule)
    for storage, members in sorted(by_class.items()):
        problems += _one_class(storage, sorted(members, key=lambda r: r.priority))
    return problems


def _one_class(storage: str, rules: list[Rule]) -> list[str]:
    problems = []
    untagged = [r for r in rules if r.tag_status == "untagged"]
    for extra in untagged[1:]:
        problems.append(
            f"rule {extra.priority}: only one rule of storage class {storage} may select "
            f"untagged images (rule {untagged[0].priority} does)"
        )
    lists: dict[tuple[str, frozenset[str]], int] = {}
    for rule in rules:
        for kind, values in (("prefixes", rule.tag_prefixes), ("patterns", rule.tag_patterns)):
            if not values:
                continue
            key = (kind, frozenset(values))
            if key in lists:
                problems.append(
                    f"rule {rule.priority}: the same tag {kind} as rule {lists[key]} "
                    f"(rules of storage class {storage} need a unique set)"
                )
            lists.setdefault(key, rule.priority)
    last = rules[-1].priority
    for rule in rules:
        if rule.tag_status == "any" and rule.priority != last:
            problems.append(
                f'rule {rule.priority}: a tagStatus "any" rule must have the highest '
                f"rulePriority of the storage class {storage} (rule {last} is higher)"
            )
    return problems


def matches(pattern: str, tag: str) -> bool:
    """A tagPatternList wildcard: `*` is any run of characters, the rest literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, tag) is not None
