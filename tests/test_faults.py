"""The fault matrix: each real-world fault, a few seeded runs, over the emulator behind the fault
proxy. Every run's output is compared with the exact inventory and classified:

- exact: every repository and image, once, and no error record;
- partial-and-reported: whatever is missing is named by an error record (its repository or its
  whole region), or the scan says it stopped early (summary "interrupted", or exit 1/3 with one
  line saying why and only whole lines kept);
- lost: anything missing, duplicated or invented without a word, a torn line, a temporary file
  left behind, or a crash.

Lost must be 0 for every fault. `pytest -s tests/test_faults.py` prints the table. Faults are
seeded (which calls they hit); the crawler's own retry jitter and task timing are not.
Faults across accounts and a PostgreSQL sink going down are covered where those are built
(multi-account scans, tests/test_sink_postgres.py).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import random
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import msgspec
import pytest
from aiobotocore.session import AioSession
from awsproxy import AwsProxy, Rule
from conftest import ACCESS_KEY, REGIONS, SECRET_KEY, ListSink, ecr_client, make_config, truth

from crawler.demo import docker_manifest, encode
from crawler.graph import scan

Outcome = Literal["exact", "partial-and-reported", "lost"]
OUTCOMES: tuple[Outcome, ...] = ("exact", "partial-and-reported", "lost")
SEEDS = (1, 2)
Repo = tuple[str, str]
ImageKey = tuple[str, str, str]
Truth = tuple[set[Repo], list[tuple[str, str, str, tuple[str, ...]]]]
# Opt-in regions with an ECR endpoint: one of them plays "not enabled for the account".
OPT_IN = ["af-south-1", "ap-east-1", "eu-south-1", "me-south-1"]
# Throttling cuts the adaptive rate; a floor keeps storms quick without switching it off.
QUICK = {"rate_limit.min_rate": 20.0}
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
# case -> outcome -> runs; printed when the module ends.
TABLE: dict[str, collections.Counter[str]] = {}


@pytest.fixture(scope="module", autouse=True)
def fault_table() -> Iterator[None]:
    """Print the matrix once every case has run (visible with pytest -s)."""
    yield
    rows = [("fault", "runs", *OUTCOMES)]
    for case, counts in TABLE.items():
        rows.append((case, str(sum(counts.values())), *(str(counts[o]) for o in OUTCOMES)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    print("\n\nfault matrix\n" + "\n".join(lines))


@dataclass
class Observed:
    """What one run produced, reduced to what the classification needs."""

    repositories: list[Repo]
    images: list[tuple[str, str, str, tuple[str, ...]]]
    errors: set[tuple[str, str | None]]  # (region, repository or None) of non-optional errors
    status: str | None  # of the scan_summary; None when there is none
    stopped: str = ""  # why the scan stopped early, as the user was told; "" if it did not


def observe(records: Sequence[dict[str, Any]], stopped: str = "") -> Observed:
    kinds = collections.defaultdict(list)
    for record in records:
        kinds[record["type"]].append(record)
    summaries = kinds["scan_summary"]
    return Observed(
        repositories=[(r["region"], r["repository_name"]) for r in kinds["repository"]],
        images=[
            (i["region"], i["repository_name"], i["image_digest"], tuple(i["image_tags"]))
            for i in kinds["image"]
        ],
        errors={(e["region"], e["repository_name"]) for e in kinds["error"] if not e["optional"]},
        status=summaries[-1]["status"] if summaries else None,
        stopped=stopped,
    )


def doubled_or_phantom(seen: Observed, before: Truth, after: Truth) -> str | None:
    """What no scan may ever write: a record twice, or a record of something that never was."""
    if len(seen.repositories) != len(set(seen.repositories)):
        return "a repository appears twice"
    keys = [image[:3] for image in seen.images]
    if len(keys) != len(set(keys)):
        return "an image appears twice"
    phantom_repos = set(seen.repositories) - before[0] - after[0]
    phantom_images = set(seen.images) - set(before[1]) - set(after[1])
    if phantom_repos or phantom_images:
        return f"records of things that never existed: {phantom_repos or phantom_images}"
    return None


def classify(seen: Observed, before: Truth, after: Truth) -> tuple[Outcome, str]:
    """Judge one run against the registry as it was before and after the scan: what existed
    throughout must be there (or be named by an error); anything else may be in either state."""
    repos_before, images_before = before
    repos_after, images_after = after
    if wrong := doubled_or_phantom(seen, before, after):
        return "lost", wrong
    keys = [image[:3] for image in seen.images]

    def named(region: str, repository: str) -> bool:
        return bool({(region, repository), (region, None), ("*", None)} & seen.errors)

    stable_keys = {i[:3] for i in images_before} & {i[:3] for i in images_after}
    missing: set[Repo] = (repos_before & repos_after) - set(seen.repositories)
    missing |= {(region, repo) for region, repo, _ in stable_keys - set(keys)}
    if seen.status == "complete":
        if missing or seen.errors or seen.stopped:
            return "lost", f"summary says complete, but missing {missing}, errors {seen.errors}"
        return "exact", ""
    if seen.status == "interrupted" or (seen.status is None and seen.stopped):
        # The scan says it stopped early: the consumer knows the rest is not there.
        return "partial-and-reported", seen.stopped or "interrupted"
    if seen.status == "partial":
        unnamed = {m for m in missing if not named(*m)}
        if unnamed:
            return "lost", f"summary says partial, but nothing names the missing {unnamed}"
        return "partial-and-reported", ""
    return "lost", f"no summary and nothing said (status {seen.status!r})"


def tally(case: str, outcome: Outcome, reason: str) -> None:
    TABLE.setdefault(case, collections.Counter())[outcome] += 1
    assert outcome != "lost", reason


def after_calls(proxy: AwsProxy, calls: int, *rules: Rule) -> None:
    """Arm `rules` once the proxy has seen `calls` ECR calls: a storm in the middle of a scan."""
    counter = itertools.count(1)

    def arm(operation: str, region: str, request: dict[str, Any]) -> None:
        if next(counter) == calls:
            proxy.rules.extend(rules)

    proxy.hooks.append(arm)


# ---- in-process scans -------------------------------------------------------------------------

Arrange = Callable[[AwsProxy, random.Random], dict[str, Any]]


def throttle(rate: float) -> Arrange:
    def arrange(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
        after_calls(proxy, rng.randint(1, 10), Rule("throttle", rate=rate, times=40))
        return QUICK

    return arrange


def server_errors(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    """Two bursts of consecutive 5xx answers at seeded points of the scan."""
    after_calls(proxy, rng.randint(1, 10), Rule("server_error", service="ecr", times=6))
    after_calls(proxy, rng.randint(20, 40), Rule("server_error", service="ecr", times=6))
    return {}


def resets(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    proxy.rules.append(Rule("reset", service="ecr", rate=0.2, times=12))
    return {}


def slow(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    """Answers slower than timeouts.read_seconds: the call times out and is retried."""
    proxy.rules.append(Rule("latency", service="ecr", rate=0.2, times=5, delay=0.8))
    return {"timeouts.read_seconds": 0.3}


def malformed(body: bytes | None) -> Arrange:
    def arrange(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
        rule = Rule("malformed", service="ecr", rate=0.2, times=10)
        if body is not None:
            rule.body = body
        proxy.rules.append(rule)
        return {}

    return arrange


def denied_operation(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    proxy.rules.append(Rule("access_denied", operation="DescribeImages", rate=0.5))
    return {}


def denied_region(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    proxy.rules.append(Rule("access_denied", service="ecr", region=rng.choice(REGIONS)))
    return {}


def named_region_not_enabled(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    region = rng.choice(OPT_IN)
    proxy.rules.append(Rule("not_enabled", region=region))
    return {"regions": [*REGIONS, region]}


def all_regions_one_not_enabled(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    proxy.rules.append(Rule("not_enabled", region=rng.choice(OPT_IN)))
    return {"regions": "all", "collect.manifests": "off"}


def _push(moto: str, region: str, repository: str, count: int) -> list[str]:
    ecr = ecr_client(moto, region)
    ecr.create_repository(repositoryName=repository)
    digests = []
    for i in range(count):
        text, digest = encode(docker_manifest(f"{repository}/{i}"))
        ecr.put_image(
            repositoryName=repository, imageManifest=text, imageDigest=digest, imageTag=f"v{i}"
        )
        digests.append(digest)
    return digests


def _on_page(repository: str, page: int, action: Callable[[], None]) -> Callable[..., None]:
    """A hook that runs `action` once, when DescribeImages asks for `repository`'s page N."""
    done = False

    def hook(operation: str, region: str, request: dict[str, Any]) -> None:
        nonlocal done
        asks = (page > 1) == ("nextToken" in request)
        ours = operation == "DescribeImages" and request.get("repositoryName") == repository
        if ours and asks and not done:
            done = True
            action()

    return hook


def repository_deleted(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    region, page = rng.choice(REGIONS), rng.choice([1, 2])
    _push(proxy.upstream, region, "tmp/vanishing", 5)
    ecr = ecr_client(proxy.upstream, region)
    delete = lambda: ecr.delete_repository(repositoryName="tmp/vanishing", force=True)  # noqa: E731
    proxy.hooks.append(_on_page("tmp/vanishing", page, delete))
    return {"collect.manifests": rng.choice(["off", "new"])}


def images_deleted(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    """While the second page is read, the last images (not read yet) are deleted."""
    region = rng.choice(REGIONS)
    digests = _push(proxy.upstream, region, "tmp/churn", 6)
    ecr = ecr_client(proxy.upstream, region)
    gone = [{"imageDigest": d} for d in digests[-rng.randint(1, 2) :]]
    delete = lambda: ecr.batch_delete_image(repositoryName="tmp/churn", imageIds=gone)  # noqa: E731
    proxy.hooks.append(_on_page("tmp/churn", 2, delete))
    return {"collect.manifests": rng.choice(["off", "new"])}


def images_retagged(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    """While the second page is read, a tag moves from an image already read to the last one.
    (The image keeps another tag: moto deletes an image left untagged, unlike ECR.)"""
    region = rng.choice(REGIONS)
    _push(proxy.upstream, region, "tmp/churn", 6)
    ecr = ecr_client(proxy.upstream, region)
    first, _ = encode(docker_manifest("tmp/churn/0"))
    ecr.put_image(repositoryName="tmp/churn", imageManifest=first, imageTag="moving")
    last, _ = encode(docker_manifest("tmp/churn/5"))
    retag = lambda: ecr.put_image(repositoryName="tmp/churn", imageManifest=last, imageTag="moving")  # noqa: E731
    proxy.hooks.append(_on_page("tmp/churn", 2, retag))
    return {"collect.manifests": rng.choice(["off", "new"])}


def role_refreshed(proxy: AwsProxy, rng: random.Random) -> dict[str, Any]:
    """An assumed-role session whose expiry is inside botocore's refresh window from the start:
    it is refreshed (AssumeRole again) while the scan runs."""
    return {
        "auth.role_arn": "arn:aws:iam::123456789012:role/crawler",
        "auth.duration_seconds": 900,
    }


IN_PROCESS: dict[str, Arrange] = {
    "throttling storm 10%": throttle(0.1),
    "throttling storm 50%": throttle(0.5),
    "throttling storm 90%": throttle(0.9),
    "5xx bursts": server_errors,
    "connection resets": resets,
    "slow answers past read timeout": slow,
    "truncated JSON body": malformed(None),
    "non-JSON (HTML) 200 body": malformed(HTML),
    "AccessDenied, one operation": denied_operation,
    "AccessDenied, one region": denied_region,
    "opt-in region not enabled (named)": named_region_not_enabled,
    "opt-in region not enabled (all)": all_regions_one_not_enabled,
    "repository deleted mid-scan": repository_deleted,
    "images deleted mid-scan": images_deleted,
    "images retagged mid-scan": images_retagged,
    "assumed-role session refreshed": role_refreshed,
}


def _cleanup(moto: str) -> None:
    for region in REGIONS:
        ecr = ecr_client(moto, region)
        for name in ("tmp/vanishing", "tmp/churn"):
            with contextlib.suppress(ecr.exceptions.RepositoryNotFoundException):
                ecr.delete_repository(repositoryName=name, force=True)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", list(IN_PROCESS))
def test_in_process_fault(proxy: AwsProxy, case: str, seed: int) -> None:
    """Under the fault the scan returns the exact inventory or names what it missed."""
    proxy.reset(seed)
    rng = random.Random(f"{case}/{seed}")
    try:
        overrides = dict(IN_PROCESS[case](proxy, rng))
        regions = overrides.pop("regions", REGIONS)
        config = make_config(proxy, regions=regions, **overrides)
        before = truth(proxy.upstream, REGIONS)
        session = AioSession()
        session.set_credentials(ACCESS_KEY, SECRET_KEY)
        sink = ListSink()
        try:
            summary = anyio.run(lambda: scan(config, sink, session=session))
        except Exception as exc:
            tally(case, "lost", f"the scan crashed: {exc!r}")
        after = truth(proxy.upstream, REGIONS)
        records = [msgspec.to_builtins(r) for r in sink.records]
        outcome, reason = classify(observe(records), before, after)
        tally(case, outcome, reason)
        assert sink.records[-1] == summary
        if case == "opt-in region not enabled (all)":
            assert len(summary.regions_skipped) == 1
            assert outcome == "exact"
        if case.startswith(("throttling", "5xx", "connection", "slow", "truncated", "non-JSON")):
            assert proxy.faults, "the fault never fired"
        if case == "assumed-role session refreshed":
            assert proxy.calls["AssumeRole"] > 1
    finally:
        _cleanup(proxy.upstream)


# ---- through the CLI ---------------------------------------------------------------------------


def _kept(directory: Path, name: str) -> tuple[list[dict[str, Any]], str]:
    """The records the CLI kept (final or interrupted name); a problem with them, or ""."""
    files = sorted(p.name for p in directory.iterdir())
    if any(f.endswith(".tmp") for f in files):
        return [], f"temporary file left behind: {files}"
    stem = name.split(".", 1)[0]
    outputs = [f for f in files if f in (name, f"{stem}.interrupted.jsonl")]
    if not outputs:
        # A scan that stopped before its first record leaves no file (the stop line says why).
        return [], ""
    if len(outputs) != 1:
        return [], f"expected one output file, found {files}"
    data = (directory / outputs[0]).read_bytes()
    if data and not data.endswith(b"\n"):
        return [], "the last line is torn"
    try:
        return [json.loads(line) for line in data.splitlines()], ""
    except json.JSONDecodeError as exc:
        return [], f"a line is not JSON: {exc}"


def _stop_line(code: int, stderr: str) -> str:
    """The one line that says why the CLI stopped with `code`; "" when there is none, or when
    it is an internal error (a crash, not a report)."""
    lines = [line for line in stderr.splitlines() if line.startswith("ecr-crawler: ")]
    if "Traceback" in stderr or len(lines) != 1 or not lines[0].startswith("ecr-crawler: error:"):
        return ""
    return lines[0]


def _judge_cli(
    case: str, code: int, stderr: str, directory: Path, before: Truth, after: Truth
) -> Outcome:
    records, problem = _kept(directory, "inventory.jsonl")
    stopped = ""
    if code in (1, 3):
        stopped = _stop_line(code, stderr)
        if not stopped:
            problem = problem or f"exit {code} without one clear line: {stderr[-500:]}"
    elif code == 130:
        stopped = "exit 130"
    elif code != 0:
        problem = problem or f"exit {code}: {stderr[-500:]}"
    if problem:
        tally(case, "lost", problem)
    outcome, reason = classify(observe(records, stopped), before, after)
    tally(case, outcome, reason)
    return outcome


def scan_cli(
    env: dict[str, str], *args: str, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m crawler scan ARGS` in the three test regions, to the end."""
    return subprocess.run(
        [sys.executable, "-m", "crawler", "scan", "--regions", ",".join(REGIONS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=preexec_fn,
    )


def _quiet_config(tmp_path: Path, text: str = "") -> str:
    path = tmp_path / "config.yaml"
    path.write_text(
        "retry:\n  base_delay_seconds: 0.01\n  max_delay_seconds: 0.05\n" + text,
        encoding="utf-8",
    )
    return str(path)


@pytest.mark.parametrize("seed", SEEDS)
def test_static_credentials_expiring_mid_scan(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path, seed: int
) -> None:
    """Static keys expiring mid-scan: exit 3, one line saying so, what was collected is kept
    as whole lines and the kept file says it is incomplete."""
    case = "static credentials expire mid-scan"
    proxy.reset(seed)
    rng = random.Random(seed)
    after_calls(proxy, rng.randint(5, 30), Rule("expired", service="ecr"))
    before = truth(proxy.upstream, REGIONS)
    target = tmp_path / "out" / "inventory.jsonl"
    target.parent.mkdir()
    config = _quiet_config(tmp_path)
    result = scan_cli(aws_env, "-c", config, "--quiet", "--sink", f"jsonl:{target}")
    outcome = _judge_cli(case, result.returncode, result.stderr, target.parent, before, before)
    assert result.returncode == 3, result.stderr
    assert "expired" in _stop_line(3, result.stderr)
    assert outcome == "partial-and-reported"


def _limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        # Python ignores SIGXFSZ, so writes past the limit fail with EFBIG: a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("seed", SEEDS)
def test_disk_full_under_the_jsonl_sink(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path, seed: int
) -> None:
    """A full disk under jsonl:PATH: exit 1, one line naming the file, whole lines kept under
    the interrupted name, no temporary file."""
    case = "disk full (JSON lines sink)"
    proxy.reset(seed)
    before = truth(proxy.upstream, REGIONS)
    target = tmp_path / "out" / "inventory.jsonl"
    target.parent.mkdir()
    limit = random.Random(seed).randint(2_000, 40_000)
    config = _quiet_config(tmp_path, "collect:\n  manifests: 'off'\n")
    result = scan_cli(
        aws_env,
        *("-c", config, "--quiet", "--sink", f"jsonl:{target}"),
        preexec_fn=_limit_file_size(limit),
    )
    _judge_cli(case, result.returncode, result.stderr, target.parent, before, before)
    assert result.returncode == 1, result.stderr
    line = _stop_line(1, result.stderr)
    assert str(target) in line
    assert "File too large" in line


def test_disk_full_under_the_manifest_cache(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """A full disk under the manifest cache is one clear line too (exit 1), not an internal
    error."""
    case = "disk full (manifest cache)"
    before = truth(proxy.upstream, REGIONS)
    target = tmp_path / "out" / "inventory.jsonl"
    target.parent.mkdir()
    config = _quiet_config(tmp_path)
    result = scan_cli(
        aws_env,
        *("-c", config, "--quiet", "--sink", f"jsonl:{target}"),
        preexec_fn=_limit_file_size(3_000),
    )
    _judge_cli(case, result.returncode, result.stderr, target.parent, before, before)
    assert "internal error" not in result.stderr


def _start(aws_env: dict[str, str], target: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "crawler", "scan", "--regions", ",".join(REGIONS)),
            *("--sink", f"jsonl:{target}", "--log-format", "json"),
        ],
        env={**aws_env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_at_a_random_point(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path, signum: int, seed: int
) -> None:
    """SIGINT or SIGTERM at a seeded point of the scan: exit 130, whole lines, a summary saying
    interrupted, kept as NAME.interrupted.jsonl, no temporary file."""
    case = f"{signal.Signals(signum).name} at a random point"
    proxy.reset(seed)
    proxy.rules.append(Rule("latency", operation="DescribeImages", delay=0.3))
    before = truth(proxy.upstream, REGIONS)
    target = tmp_path / "out" / "inventory.jsonl"
    target.parent.mkdir()
    process = _start(aws_env, target)
    assert process.stderr is not None
    for line in process.stderr:
        if "scan started" in line:
            break
    time.sleep(random.Random(seed).uniform(0.0, 1.0))
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    outcome = _judge_cli(case, process.returncode, stderr, target.parent, before, before)
    if process.returncode == 130:
        records, _ = _kept(target.parent, "inventory.jsonl")
        assert records[-1]["status"] == "interrupted"
        assert (target.parent / "inventory.interrupted.jsonl").exists()
    else:  # the scan had finished before the signal came
        assert (process.returncode, outcome) == (0, "exact")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_the_scan_starts(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path, signum: int
) -> None:
    """A signal as soon as the output file exists, before the first record: exit 130, no
    traceback, no temporary file."""
    case = f"{signal.Signals(signum).name} while the scan starts"
    target = tmp_path / "out" / "inventory.jsonl"
    target.parent.mkdir()
    process = _start(aws_env, target)
    deadline = time.monotonic() + 20
    while not any(target.parent.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    files = [p.name for p in target.parent.iterdir()]
    problem = ""
    if process.returncode != 130 or "Traceback" in stderr:
        problem = f"exit {process.returncode}, traceback: {'Traceback' in stderr}"
    if any(f.endswith(".tmp") for f in files):
        problem = f"temporary file left behind: {files}"
    tally(case, "lost" if problem else "partial-and-reported", problem)
