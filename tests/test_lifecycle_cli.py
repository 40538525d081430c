"""`ecr-crawler lifecycle` and the check lifecycle-expires-in-use from the command line, over
scans saved as SQLite and JSON lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import cli
from test_lifecycle import AS_OF, days_ago, image, repository, rule, save


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The CLI's environment without any AWS setting: the command calls nothing."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**clean, "AWS_CONFIG_FILE": str(tmp_path / "none"), "XDG_CACHE_HOME": str(tmp_path)}


def test_cli_over_sqlite_with_a_proposed_policy_and_a_glob(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """--policy applies to every repository --repositories selects, attached or not; the JSON
    has the totals, each action and its danger."""
    images = [image("A", [], 3), image("B", [], 2), image("C", ["latest"], 1),
              image("W", [], 9, repository_name="web")]  # fmt: skip
    db = save(tmp_path / "scan.db", [repository(), repository("web"), *images])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rules": [
        rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1),
    ]}))  # fmt: skip
    done = cli("lifecycle", str(db), "--policy", str(policy), "--repositories", "a*",
               "--format", "json", env=env)  # fmt: skip
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["totals"]["expire_images"] == 2
    assert [r["repository_name"] for r in report["repositories"]] == ["app"]
    assert report["as_of"] == AS_OF.isoformat()


def test_cli_refuses_a_policy_with_one_line_per_invalid_rule(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Each rule AWS would reject is named once, with what is wrong; exit 2."""
    db = save(tmp_path / "scan.db", [repository(), image("A")])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rules": [
        rule(1, tagStatus="tagged", countType="imageCountMoreThan", countNumber=1),
        rule(2, tagStatus="untagged", countType="sinceImagePulled", countUnit="days",
             countNumber=30),
        rule(3, tagStatus="any", countType="imageCountMoreThan", countNumber=0),
    ]}))  # fmt: skip
    done = cli("lifecycle", str(db), "--policy", str(policy), env=env)
    assert done.code == 2
    assert done.stdout == ""
    assert 'rule 1: tagStatus "tagged" needs a tagPatternList or a tagPrefixList' in done.stderr
    assert "rule 2: sinceImagePulled takes the transition action only" in done.stderr
    assert "rule 3: countNumber must be a positive integer, got 0" in done.stderr


def test_table_lists_totals_and_dangers(tmp_path: Path, env: dict[str, str]) -> None:
    """The table has a row per repository, the total and the danger list."""
    rules = [rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)]
    path = save(tmp_path / "scan.jsonl", [
        repository(policy={"rules": rules}), repository("bare", policy={}),
        image("A", ["stable"], 2), image("B", ["v2"], 1),
    ])  # fmt: skip
    done = cli("lifecycle", str(path), env=env)
    assert done.code == 0, done.stderr
    assert "us-east-1/app" in done.stdout
    assert "total (1 repositories)" in done.stdout
    assert "protected tag stable" in done.stdout
    assert "1 repositories have no lifecycle policy" in done.stdout


def test_checks_report_an_image_in_use_that_a_policy_would_expire(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """lifecycle-expires-in-use fails on the running image the attached policy expires, passes
    where nothing running goes, and gates `checks --fail-on HIGH` (exit 4)."""
    rules = [rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)]
    db = save(tmp_path / "scan.db", [
        repository(policy={"rules": rules}), repository("safe", policy={"rules": rules}),
        image("run", ["1.0"], 9, in_use_count=2), image("new", ["1.1"], 1, in_use_count=0),
        image("S1", ["1"], 9, repository_name="safe", in_use_count=0),
        image("S2", ["2"], 1, repository_name="safe", in_use_count=4),
    ])  # fmt: skip
    done = cli("checks", str(db), "--format", "json", "--fail-on", "HIGH", env=env)
    assert done.code == 4, done.stderr
    report = json.loads(done.stdout)
    found = [f for f in report["findings"] if f["check_id"] == "lifecycle-expires-in-use"]
    assert [(f["repository_name"], f["details"]["image_tags"]) for f in found] == [("app", ["1.0"])]
    assert "rule 1 would expire 1.0, which is in use" in found[0]["message"]


def test_checks_count_in_use_as_the_configs_in_use_days_say(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """An image last seen running 10 days before the scan is not in use at the default
    lifecycle.in_use_days (7), and is at 14: the check reads the config's lifecycle section."""
    rules = [rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)]
    db = save(tmp_path / "scan.db", [
        repository(policy={"rules": rules}),
        image("ran", ["1.0"], 9, in_use_count=0, last_in_use_at=days_ago(10)),
        image("new", ["1.1"], 1, in_use_count=0),
    ])  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text("lifecycle:\n  in_use_days: 14\n")

    def found(*args: str) -> list[str]:
        done = cli("checks", str(db), "--format", "json", *args, env=env)
        assert done.code == 0, done.stderr
        findings = json.loads(done.stdout)["findings"]
        return [f["message"] for f in findings if f["check_id"] == "lifecycle-expires-in-use"]

    assert found() == []
    assert found("-c", str(config)) == ["app: rule 1 would expire 1.0, which is in use"]


def test_fail_on_danger_exits_4_after_writing_the_report(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """--fail-on-danger exits 4 (as checks --fail-on) when the danger list is not empty, with
    the report written; 0 without the flag, and 0 with it when the list is empty."""
    rules = [rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)]
    path = save(tmp_path / "scan.jsonl", [
        repository(policy={"rules": rules}), image("A", ["stable"], 2), image("B", ["v2"], 1),
    ])  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text("lifecycle:\n  protected_tags: []\n")
    gated = cli("lifecycle", str(path), "--format", "json", "--fail-on-danger", env=env)
    assert gated.code == 4, gated.stderr
    assert json.loads(gated.stdout)["totals"]["dangers"] == 1
    assert "1 images on the danger list (exit 4)" in gated.stderr
    assert cli("lifecycle", str(path), env=env).code == 0
    done = cli("lifecycle", str(path), "-c", str(config), "--fail-on-danger", env=env)
    assert done.code == 0, done.stderr
