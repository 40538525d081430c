"""Rule-order invariants of the lifecycle evaluator, over generated repositories and policies
saved as scans: an image is acted on by at most one rule, the first that identifies it, and a
rule with imageCountMoreThan N keeps exactly N of the images it matches."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_lifecycle import image, repository, rule, save

from crawler.config import Lifecycle
from crawler.lifecycle.command import run_saved
from crawler.lifecycle.evaluate import Action, Held, identifies, order
from crawler.lifecycle.policy import Policy, PolicyError, policy_of
from crawler.lifecycle.report import DryRun
from crawler.records import Image

TAGS = ["a1", "a2", "b1", "prod", "dev-1"]
PATTERNS = ["a*", "b*", "prod", "*1", "*"]

images_strategy = st.lists(
    st.tuples(st.lists(st.sampled_from(TAGS), max_size=3, unique=True), st.integers(0, 60)),
    min_size=1,
    max_size=12,
)


@st.composite
def rules_strategy(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1 to 4 rules of every tag status, count type and action."""
    rules = []
    for priority in range(1, draw(st.integers(1, 4)) + 1):
        status = draw(st.sampled_from(["tagged", "untagged", "any"]))
        selection: dict[str, Any] = {"tagStatus": status}
        if status == "tagged":
            patterns = draw(
                st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True)
            )
            selection["tagPatternList"] = patterns
        if draw(st.booleans()):
            selection.update(countType="imageCountMoreThan", countNumber=draw(st.integers(1, 5)))
        else:
            selection.update(countType="sinceImagePushed", countUnit="days",
                             countNumber=draw(st.integers(1, 40)))  # fmt: skip
        action = draw(st.sampled_from(["expire", "transition"]))
        rules.append(rule(priority, action, **selection))
    return rules


def valid(rules: list[dict[str, Any]]) -> Policy | None:
    try:
        return policy_of({"rules": rules})
    except PolicyError:
        return None


def run(
    rules: list[dict[str, Any]], specs: list[tuple[list[str], int]]
) -> tuple[DryRun, list[Image]]:
    """The dry run of `rules` over images with these tags and ages, saved as JSON lines."""
    images = [image(f"i{n}", tags, days + n / 100) for n, (tags, days) in enumerate(specs)]
    with tempfile.TemporaryDirectory() as directory:
        path = save(Path(directory) / "scan.jsonl", [repository(policy={"rules": rules}), *images])
        return run_saved(str(path), Lifecycle()), images


def actions(result: DryRun) -> list[Action]:
    return [a for o in result.outcomes for a in o.actions]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules_strategy(), images_strategy)
def test_an_image_is_acted_on_by_one_rule_at_most(
    rules: list[dict[str, Any]], specs: list[tuple[list[str], int]]
) -> None:
    """No image has two actions, and the rule acting on one is the first that identifies it."""
    policy = valid(rules)
    assume(policy is not None)
    assert policy is not None
    result, _ = run(rules, specs)
    done = actions(result)
    assert len({a.image.digest for a in done}) == len(done)
    for action in done:
        first = next(r for r in policy.rules if identifies(r, action.image))
        assert first.priority == action.rule


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules_strategy(), images_strategy, st.integers(1, 6))
def test_image_count_more_than_n_keeps_exactly_n(
    rules: list[dict[str, Any]], specs: list[tuple[list[str], int]], keep: int
) -> None:
    """The first rule, imageCountMoreThan N, keeps exactly min(N, matched) of the images it
    matches, the newest; whatever the rules after it say."""
    rules[0]["selection"] = {
        k: v for k, v in rules[0]["selection"].items() if k in ("tagStatus", "tagPatternList")
    }
    rules[0]["selection"].update(countType="imageCountMoreThan", countNumber=keep)
    policy = valid(rules)
    assume(policy is not None)
    assert policy is not None
    result, images = run(rules, specs)
    held = [Held.of(i, is_index=False) for i in images]
    matched = sorted((h for h in held if identifies(policy.rules[0], h)), key=order)
    gone = {a.image.digest for a in actions(result)}
    kept = [h.digest for h in matched if h.digest not in gone]
    assert len(kept) == min(keep, len(matched))
    assert kept == [h.digest for h in matched[len(matched) - len(kept) :]]
