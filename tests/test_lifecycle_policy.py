"""A lifecycle policy checked as ECR checks one before taking it: each rule AWS would refuse
is one problem naming the rule; the User Guide's own examples pass."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_lifecycle import rule

from crawler.lifecycle.policy import PolicyError, parse_policy

COUNT: dict[str, Any] = {"countType": "imageCountMoreThan", "countNumber": 1}
AGE: dict[str, Any] = {"countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ([rule(1, tagStatus="untagged", tagPrefixList=["v"], **COUNT)], "takes no tagPrefixList"),
        ([rule(1, tagStatus="tagged", tagPrefixList=["v"], tagPatternList=["v*"], **COUNT)],
         "not both"),
        ([rule(1, tagStatus="tagged", tagPatternList=["*a*b*c*d*e"], **COUNT)],
         "more than 4 wildcards"),
        ([rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1,
               countUnit="days")], "countUnit is only for"),
        ([rule(1, tagStatus="any", countType="sinceImagePushed", countNumber=1)],
         'needs countUnit "days"'),
        ([rule(1, tagStatus="any", storageClass="archive", **AGE)],
         'takes only storageClass "standard"'),
        ([rule(1, tagStatus="any", countType="sinceImageTransitioned", countUnit="days",
               countNumber=30, storageClass="archive")], "at least 90"),
        ([rule(1, "transition", tagStatus="any", countType="sinceImageTransitioned",
               countUnit="days", countNumber=90, storageClass="archive")], "expire action only"),
        ([{**rule(1, tagStatus="any", **COUNT), "action": {"type": "transition"}}],
         'targetStorageClass "archive"'),
        ([rule(1, tagStatus="any", **COUNT), rule(2, tagStatus="untagged", **COUNT)],
         'rule 1: a tagStatus "any" rule must have the highest'),
        ([rule(1, tagStatus="untagged", **COUNT), rule(2, tagStatus="untagged", **AGE)],
         "rule 2: only one rule of storage class standard may select untagged"),
        ([rule(1, tagStatus="tagged", tagPrefixList=["a", "b"], **COUNT),
          rule(2, tagStatus="tagged", tagPrefixList=["b", "a"], **AGE)],
         "rule 2: the same tag prefixes as rule 1"),
        ([rule(1, tagStatus="tagged", tagPrefixList=["a"], **COUNT),
          rule(1, tagStatus="tagged", tagPrefixList=["b"], **COUNT)], "used twice"),
        ([{**rule(1, tagStatus="any", **COUNT), "filter": "x"}], "ECR does not know: filter"),
    ],
)  # fmt: skip
def test_an_invalid_rule_is_named_with_what_is_wrong(
    rules: list[dict[str, Any]], problem: str
) -> None:
    """Each rule ECR would refuse gives one problem, naming the rule."""
    text = json.dumps({"rules": rules}, indent=2)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.json")
    assert len(caught.value.problems) == 1
    assert problem in caught.value.problems[0]
    assert caught.value.problems[0].startswith("rule ")


def test_the_archive_examples_two_any_rules_are_valid() -> None:
    """One `any` rule per storage class, as the guide's "Combining archive and expire rules"."""
    policy = parse_policy(json.dumps({"rules": [
        rule(1, "transition", tagStatus="any", **AGE),
        rule(2, tagStatus="any", storageClass="archive", countType="sinceImageTransitioned",
             countUnit="days", countNumber=365),
    ]}))  # fmt: skip
    assert [r.storage_class for r in policy.rules] == ["standard", "archive"]
