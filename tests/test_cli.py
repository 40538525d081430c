"""The command line as a user runs it: records, logs, exit codes and one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from awsproxy import AwsProxy, Rule
from conftest import SECRET_KEY, cli, truth


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_records_go_to_stdout_and_logs_to_stderr(aws_env: dict[str, str], proxy: AwsProxy) -> None:
    """`scan --sink -` prints only JSON records on stdout, `type` first, summary last."""
    result = cli("scan", "--regions", "us-east-1,eu-west-1", "--sink", "-", env=aws_env)
    assert result.code == 0, result.stderr
    records = result.records()
    assert all(line.startswith('{"type":') for line in result.stdout.splitlines())
    assert records[-1]["type"] == "scan_summary"
    assert records[-1]["status"] == "complete"
    _repositories, images = truth(proxy.upstream, ["us-east-1", "eu-west-1"])
    assert sum(r["type"] == "image" for r in records) == len(images)
    # not a terminal: logs are JSON lines carrying the scan id
    logs = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"scan started", "scan finished"} <= {e["event"] for e in logs}
    assert all(e.get("scan_id") == records[-1]["scan_id"] for e in logs)


def test_file_sink_is_renamed_into_place_and_gzip_works(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    """jsonl:PATH.gz ends as one complete gzip file and no temporary file stays behind."""
    target = tmp_path / "inventory.jsonl.gz"
    result = cli("scan", "--regions", "eu-west-1", "--sink", f"jsonl:{target}", env=aws_env)
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.jsonl.gz"]
    lines = gzip.decompress(target.read_bytes()).decode().splitlines()
    assert json.loads(lines[-1])["type"] == "scan_summary"


def test_access_denied_region_exits_1_with_error_record(
    aws_env: dict[str, str], proxy: AwsProxy
) -> None:
    """Exit 1 when a region is denied; the error is in the records and the rest is there."""
    proxy.rules.append(Rule("access_denied", operation="DescribeRepositories", region="eu-west-1"))
    result = cli("scan", "--regions", "us-east-1,eu-west-1", env=aws_env)
    assert result.code == 1
    records = result.records()
    assert [r["region"] for r in records if r["type"] == "error"] == ["eu-west-1"]
    assert records[-1]["status"] == "partial"
    assert any(r["type"] == "image" and r["region"] == "us-east-1" for r in records)


def test_missing_credentials_exit_3(aws_env: dict[str, str]) -> None:
    """No credentials anywhere: exit 3 and one line saying how to provide them."""
    env = {
        k: v for k, v in aws_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    result = cli("scan", "--regions", "us-east-1", env=env)
    assert result.code == 3
    assert "no AWS credentials found" in one_line_error(result.stderr)
    assert result.stdout == ""


def test_rejected_credentials_exit_3(aws_env: dict[str, str], proxy: AwsProxy) -> None:
    """Credentials that STS rejects: exit 3 and one line naming AWS's error code."""
    proxy.rules.append(Rule("reject_credentials", operation="GetCallerIdentity"))
    result = cli("scan", "--regions", "us-east-1", env=aws_env)
    assert result.code == 3
    line = one_line_error(result.stderr)
    assert "rejected the credentials" in line
    assert "InvalidClientTokenId" in line


def test_unreachable_endpoint_is_one_line(aws_env: dict[str, str]) -> None:
    """An endpoint nobody listens on: exit 1 and one line naming the URL."""
    env = {**aws_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    result = cli("scan", "--regions", "us-east-1", env=env)
    assert result.code == 1
    assert "http://127.0.0.1:9" in one_line_error(result.stderr)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("regions: [us-east-1]\nconcurrency:\n  api_calls: -1\n", "concurrency.api_calls"),
        ("regoins: [us-east-1]\n", "did you mean 'regions'"),
        ("regions: [us-east-1\n", "not valid YAML (line 2)"),
        ("- just\n- a list\n", "mapping"),
        ("regions: [Mars-1]\n", "regions"),
        ("sink: ftp://inventory\n", "not a sink URI"),
        ("auth:\n  role_arn: admin\n", "auth.role_arn"),
    ],
)
def test_bad_config_exits_2_with_one_line_naming_the_key(
    aws_env: dict[str, str], tmp_path: Path, config: str, expected: str
) -> None:
    """A malformed config file gives exit 2 and one line saying what is wrong, no traceback."""
    path = tmp_path / "config.yaml"
    path.write_text(config)
    result = cli("scan", "-c", str(path), env=aws_env)
    assert result.code == 2
    assert expected in one_line_error(result.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "--regoins", "us-east-1"],
        ["scan", "--concurrency", "many"],
        ["scan", "--log-level", "loud"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_flags_exit_2_with_one_line(aws_env: dict[str, str], args: list[str]) -> None:
    """Unknown flags, bad values and unknown commands: exit 2 and one line pointing at --help."""
    result = cli(*args, env=aws_env)
    assert result.code == 2
    assert "--help" in one_line_error(result.stderr)


def test_no_region_anywhere_exits_2(aws_env: dict[str, str]) -> None:
    """Without --regions, config regions or AWS_REGION, the user is told how to choose."""
    result = cli("scan", env=aws_env)
    assert result.code == 2
    assert "--regions" in one_line_error(result.stderr)


# The config key each scan flag sets, and the flag an error in its value names.
SCAN_FLAGS = {
    "regions": "--regions",
    "sink": "--sink",
    "concurrency.api_calls": "--concurrency",
    "shard": "--shard",
    "since": "--since",
    "sink_options.prune": "--prune",
    "log.format": "--log-format",
    "log.level": "--log-level",
}


def test_scan_flags_name_their_config_keys() -> None:
    """Each scan flag that overrides a config key is mapped to it; none given overrides nothing."""
    from crawler.cli.parser import config_flags, parse

    values, flags = config_flags(parse(["scan"]))
    assert flags == SCAN_FLAGS
    assert values == dict.fromkeys(SCAN_FLAGS)


def test_quiet_overrides_log_level_and_prune_is_true_only_when_given() -> None:
    """--quiet sets log.level to error whatever --log-level says, and names itself; --prune
    given sets sink_options.prune."""
    from crawler.cli.parser import config_flags, parse

    values, flags = config_flags(parse(["scan", "--quiet", "--log-level", "debug", "--prune"]))
    assert (values["log.level"], flags["log.level"]) == ("error", "--quiet")
    assert values["sink_options.prune"] is True


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (["permissions"], {"regions": "--regions"}),
        (["plan"], {"regions": "--regions"}),
        (["policy"], {}),
        (["checks"], {}),
        (["demo"], {k: SCAN_FLAGS[k] for k in ("sink", "log.format", "log.level")}),
    ],
)
def test_other_commands_name_their_flags(args: list[str], flags: dict[str, str]) -> None:
    """Every command maps exactly the flags it takes to their config keys."""
    from crawler.cli.parser import config_flags, parse

    assert config_flags(parse(args))[1] == flags


def usage(*args: str) -> str:
    """`ecr-crawler ARGS --help`, its lines joined (argparse wraps them to the terminal)."""
    return " ".join(cli(*args, "--help", env={}).stdout.split())


def test_sink_help_gives_each_commands_own_default() -> None:
    """--sink's help names the default each command uses: the database the demo writes, the
    config's sink (else stdout) for scan."""
    from crawler.cli.parser import DEMO_SINK

    assert f"default {DEMO_SINK}" in usage("demo")
    assert "default the config's sink:, else '-'" in usage("scan")


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_secrets_never_appear_in_output_at_any_log_level(
    aws_env: dict[str, str], proxy: AwsProxy, level: str
) -> None:
    """The secret key and session token appear nowhere in records or logs, at every level."""
    token = "session-TOKEN-MARKER-0f4e2d7a9c"
    env = {**aws_env, "AWS_SESSION_TOKEN": token}
    proxy.rules.append(Rule("access_denied", operation="DescribeImages", rate=0.3))
    result = cli("scan", "--regions", "us-east-1", "--log-level", level, env=env)
    assert result.code == 1
    if level == "debug":
        assert "botocore" in result.stderr  # debug really shows botocore's own logs
    for output in (result.stdout, result.stderr):
        assert SECRET_KEY not in output
        assert token not in output


def test_sigint_keeps_whole_lines_and_exits_130(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """Ctrl-C mid-scan: whole records so far, a summary saying interrupted, exit 130, and the
    file kept under a name that says so, with no temporary file left."""
    proxy.rules.append(Rule("latency", operation="DescribeImages", delay=0.3))
    target = tmp_path / "inventory.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler",
            "scan",
            "--regions",
            "us-east-1,eu-west-1",
            "--concurrency",
            "1",
            "--sink",
            f"jsonl:{target}",
        ],
        env={**aws_env, "PYTHONUNBUFFERED": "1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until the crawl is under way
        if "scan started" in line:
            break
    # Until a repository's images are being listed (its record is on its way to the sink),
    # however slow the machine.
    deadline = time.monotonic() + 20
    while proxy.calls["DescribeImages"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 130
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.interrupted.jsonl"]
    kept = (tmp_path / "inventory.interrupted.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in kept]
    assert records[-1]["type"] == "scan_summary"
    assert records[-1]["status"] == "interrupted"
    assert any(r["type"] == "repository" for r in records)


def test_quiet_leaves_only_errors(aws_env: dict[str, str], proxy: AwsProxy) -> None:
    """--quiet: no info lines on stderr, only the error of the denied region."""
    proxy.rules.append(Rule("access_denied", operation="DescribeRepositories", region="eu-west-1"))
    result = cli("scan", "--regions", "us-east-1,eu-west-1", "--quiet", env=aws_env)
    assert result.code == 1
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events
    assert {e["level"] for e in events} == {"error"}


def test_summary_json_is_written_for_ci(aws_env: dict[str, str], tmp_path: Path) -> None:
    """--summary-json PATH holds the scan_summary record, as in the stream."""
    path = tmp_path / "summary.json"
    result = cli("scan", "--regions", "eu-west-1", "--summary-json", str(path), env=aws_env)
    assert result.code == 0
    summary = json.loads(path.read_text())
    assert summary == result.records()[-1]
    assert summary["status"] == "complete"


def test_regions_lists_what_all_expands_to() -> None:
    """`regions` needs no credentials and lists ECR's regions of the partition, sorted."""
    result = cli("regions", env={})
    regions = result.stdout.split()
    assert result.code == 0
    assert "us-east-1" in regions
    assert "eu-west-1" in regions
    assert regions == sorted(regions)
    assert not any(r.startswith("cn-") for r in regions)


def test_old_check_command_is_refused_with_the_new_name() -> None:
    """`check` (renamed) exits 2 with one line naming `permissions` and `checks`."""
    result = cli("check", "--regions", "us-east-1", env={})
    assert result.code == 2
    line = one_line_error(result.stderr)
    assert "'check' is now 'permissions' (the IAM probe)" in line
    assert "for compliance checks use 'checks'" in line


def closed_stdout(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a stdout pipe whose reader has gone, as `| head -1` leaves it."""
    read, write = os.pipe()
    os.close(read)  # before the child writes anything: every write meets a closed pipe
    try:
        return subprocess.run(
            [sys.executable, "-m", "crawler", *args],
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ["regions"],
        ["plan", "--regions", "all", "--shards", "4"],
        ["scan", "--regions", "us-east-1", "--sink", "-", "--quiet"],
    ],
)
def test_closed_stdout_ends_quietly(aws_env: dict[str, str], args: list[str]) -> None:
    """A reader that stops reading (`| head -1`) is a normal end: exit 0, nothing on stderr."""
    result = closed_stdout(*args, env=aws_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_head_reads_the_first_line_and_everyone_exits_0(aws_env: dict[str, str]) -> None:
    """`plan --regions all --shards 4 | head -1` prints one unit and the pipeline succeeds."""
    crawler = shlex.join([sys.executable, "-m", "crawler"])
    pipeline = f"set -o pipefail; {crawler} plan --regions all --shards 4 | head -1"
    done = subprocess.run(
        ["bash", "-c", pipeline], env=aws_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


def test_no_stdout_at_all_is_not_an_error() -> None:
    """With stdout closed before start (`>&-`), `regions` still exits 0 quietly."""
    crawler = shlex.join([sys.executable, "-m", "crawler"])
    done = subprocess.run(
        ["bash", "-c", f"{crawler} regions >&-"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")


HEAVY = ("aiobotocore", "botocore", "rich", "anyio", "structlog", "crawler.compliance")


@pytest.mark.parametrize("args", [["--help"], ["regions"], ["policy"], ["scan", "--help"]])
def test_quick_commands_import_nothing_heavy(args: list[str]) -> None:
    """`--help`, `regions` and `policy` start without botocore, rich, anyio or the checks."""
    program = (
        "import sys\nfrom crawler.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr.strip() == "[]", done.stderr
