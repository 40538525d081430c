"""The lifecycle dry run of the demo registry end to end: `ecr-crawler demo` into SQLite, then
`ecr-crawler lifecycle` with the demo's own policies and with README's proposed one, and the
lifecycle parts of `ecr-crawler checks` (the check, the HTML section)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Result, cli

from crawler.config import Lifecycle
from crawler.lifecycle.command import run_saved

ROOT = Path(__file__).parent.parent
PROPOSED = ROOT / "docs" / "examples" / "lifecycle-policy.json"


def run(*args: str, cwd: Path) -> Result:
    """`python -m crawler ARGS` in `cwd` with no AWS setting at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["XDG_CACHE_HOME"] = str(cwd / ".cache")
    return cli(*args, env=env, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo registry scanned into demo-inventory.db, as README runs it."""
    cwd = tmp_path_factory.mktemp("lifecycle-demo")
    done = run("demo", "--quiet", cwd=cwd)
    assert done.code == 0, done.stderr
    return cwd / "demo-inventory.db"


def test_the_demos_own_policies_expire_nothing_yet(demo: Path) -> None:
    """web/frontend's "untagged after 14 days" in each region finds images a day old."""
    dry = run_saved(str(demo), Lifecycle())
    assert [o.key[1:] for o in dry.outcomes] == [
        (region, "web/frontend") for region in ("ap-southeast-2", "eu-west-1", "us-east-1")
    ]
    assert dry.totals()["images"] == 18
    assert not any(o.actions for o in dry.outcomes)
    assert (dry.without_policy, dry.not_collected, dry.invalid) == (15, 0, ())


def test_readme_worked_example_is_what_the_command_prints(demo: Path) -> None:
    """Every row README shows of the proposed policy's dry run is a row of the real output,
    the totals and the danger list included."""
    done = run("lifecycle", str(demo), "--policy", str(PROPOSED), cwd=demo.parent)
    assert done.code == 0, done.stderr
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Lifecycle and cost", 1)[1].split("```", 2)[1]
    shown = [
        line for line in block.splitlines() if line[:1] and line[0] in "┃│" and "..." not in line
    ]
    printed = done.stdout.splitlines()
    assert len(shown) == 11
    missing = [line for line in shown if line not in printed]
    assert not missing, f"regenerate README's example: {missing}"
    assert "prices: standard $0.10/GB-month, archive $0.10/GB-month" in block


def test_the_proposed_policy_keeps_children_and_moves_referrers(demo: Path) -> None:
    """No child of a kept (or archived) index goes; referrers go with their subject; the
    cosign signature by tag stays."""
    dry = run_saved(str(demo), Lifecycle(), policy_file=str(PROPOSED))
    for outcome in dry.outcomes:
        gone = {a.image.digest for a in outcome.actions}
        for action in outcome.actions:
            assert all(p in gone for p in action.image.parents)
    payments = next(o for o in dry.outcomes if o.key[2] == "shop/payments")
    kinds = sorted((a.image.kind or "", bool(a.follows)) for a in payments.actions)
    assert kinds == [("artifact", True), ("attestation", True), ("container_image", False),
                     ("sbom", True)]  # fmt: skip


def test_checks_run_the_lifecycle_check_and_html_has_the_section(demo: Path) -> None:
    """`checks` lists lifecycle-expires-in-use (skipped: no Inspector data in the demo) and its
    HTML report has the "Lifecycle and cost" section."""
    table = run("checks", str(demo), cwd=demo.parent)
    line = next(x for x in table.stdout.splitlines() if "lifecycle-expires-in-use" in x)
    assert "skipped" in line
    html = demo.parent / "report.html"
    done = run("checks", str(demo), "--format", "html", "--output", str(html), cwd=demo.parent)
    assert done.code == 0, done.stderr
    text = html.read_text()
    assert '<section id="lifecycle"><h2>Lifecycle and cost</h2>' in text
    assert "15 repositories have no lifecycle policy" in text
