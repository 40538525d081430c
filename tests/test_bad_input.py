"""Bad input, table-driven: malformed config files, flags and environment variables each give
exit 2 (3 for credentials) and one line naming the key, flag or variable and the problem, never
a traceback; and a fuzz test over the config loader, from which only ConfigError escapes."""

from __future__ import annotations

import re
import string
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from conftest import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.config import Config, load_config
from crawler.config.validate import Invalid, check
from crawler.errors import ConfigError

# id -> (config file text, or None for no file; extra arguments; what the line must name)
CONFIG_FILES: dict[str, tuple[str, list[str]]] = {
    "string for int": (
        "concurrency:\n  api_calls: many\n",
        ["concurrency.api_calls", "int", "'many'"],
    ),
    "section not a mapping": ("retry: 5\n", ["retry", "expected `object`", "5"]),
    "zero attempts": ("retry:\n  max_attempts: 0\n", ["retry.max_attempts", ">= 1", "got 0"]),
    "negative limit": (
        "concurrency:\n  repositories: -4\n",
        ["concurrency.repositories", "got -4"],
    ),
    "negative wait": ("retry:\n  max_wait_seconds: -1\n", ["retry.max_wait_seconds", "> 0"]),
    "zero timeout": ("timeouts:\n  read_seconds: 0\n", ["timeouts.read_seconds", "> 0", "got 0"]),
    "beta above 1": ("rate_limit:\n  beta: 1.5\n", ["rate_limit.beta", "< 1", "got 1.5"]),
    "session too short": ("auth:\n  duration_seconds: 100\n", ["auth.duration_seconds", ">= 900"]),
    "float for int": ("concurrency:\n  api_calls: 2.5\n", ["concurrency.api_calls", "`float`"]),
    "bool for int": ("concurrency:\n  regions: true\n", ["concurrency.regions", "`bool`"]),
    "null for int": ("retry:\n  max_attempts: null\n", ["retry.max_attempts", "`null`"]),
    "string for bool": ("collect:\n  policies: 'yes'\n", ["collect.policies", "`bool`", "'yes'"]),
    "bad manifests mode": (
        "collect:\n  manifests: maybe\n",
        ["collect.manifests", "'maybe'", "off"],
    ),
    "bad findings mode": (
        "collect:\n  scan_findings: everything\n",
        ["collect.scan_findings", "'everything'", "summary"],
    ),
    "bad log level": ("log:\n  level: loud\n", ["log.level", "'loud'", "debug, info"]),
    "bad partition": ("partition: aws-mars\n", ["partition", "'aws-mars'", "aws-us-gov"]),
    "misspelt top key": ("regoins: [us-east-1]\n", ["'regoins'", "did you mean 'regions'"]),
    "misspelt nested key": (
        "retry:\n  max_atempts: 3\n",
        ["'retry.max_atempts'", "'max_attempts'"],
    ),
    "misspelt collect key": ("collect:\n  manifest: all\n", ["collect.manifest", "'manifests'"]),
    "unknown key": ("frobnicate: 1\n", ["'frobnicate'", "known keys: regions"]),
    "unclosed bracket": ("regions: [us-east-1\n", ["not valid YAML", "line 2"]),
    "tab indentation": ("regions:\n\t- us-east-1\n", ["not valid YAML"]),
    "python tag": ("x: !!python/object/apply:os.system [ls]\n", ["not valid YAML"]),
    "top-level list": ("- just\n- a list\n", ["mapping"]),
    "top-level scalar": ("hello\n", ["mapping"]),
    "bad region": ("regions: [Mars-1]\n", ["regions[0]", "'Mars-1'", "us-east-1"]),
    "region 'al'": ("regions: al\n", ["regions[0]", "'al'", "'all'"]),
    "bad region in a list string": (
        "regions: 'us-east-1, eu-wst-1x'\n",
        ["regions[1]", "'eu-wst-1x'", "us-east-1"],
    ),
    "regions a number": ("regions: 5\n", ["regions", "`int`"]),
    "region a number": ("regions: [us-east-1, 42]\n", ["regions[1]", "`int`", "42"]),
    "role not an ARN": (
        "auth:\n  role_arn: admin\n",
        ["auth.role_arn", "'admin'", "arn:aws:iam::123456789012:role/NAME"],
    ),
    "user ARN for role": (
        "auth:\n  role_arn: 'arn:aws:iam::123456789012:user/ci'\n",
        ["auth.role_arn", "user/ci", "role/NAME"],
    ),
    "short account in ARN": (
        "auth:\n  role_arn: 'arn:aws:iam::1234:role/x'\n",
        ["auth.role_arn", "1234", "role/NAME"],
    ),
    "session name with spaces": (
        "auth:\n  session_name: 'has spaces'\n",
        ["auth.session_name", "'has spaces'", "64"],
    ),
    "endpoint without scheme": ("endpoint_url: localhost:4566\n", ["endpoint_url", "http://"]),
    "ftp sink": ("sink: ftp://inventory\n", ["sink 'ftp://inventory'", "not a sink URI"]),
    "sink without scheme": ("sink: inventory.jsonl\n", ["did you mean 'jsonl:inventory.jsonl'"]),
    "jsonl sink without path": ("sink: 'jsonl:'\n", ["sink 'jsonl:'", "jsonl:PATH"]),
    "sink a number": ("sink: 5\n", ["sink", "`str`"]),
    "sink in a missing directory": (
        "sink: 'jsonl:/nonexistent/dir/x.jsonl'\n",
        ["/nonexistent/dir/x.jsonl", "cannot create file"],
    ),
    "bad postgres schema": (
        "sink_options:\n  postgres_schema: Bad-Schema\n",
        ["sink_options.postgres_schema", "'Bad-Schema'", "lowercase"],
    ),
    "zero sink retry": ("sink_options:\n  retry_seconds: 0\n", ["sink_options.retry_seconds"]),
    "cache_dir a list": ("cache_dir: [a, b]\n", ["cache_dir", "`array`"]),
    "empty file, no region": ("", ["no region to scan", "--regions"]),
    "manifests on": ("collect:\n  manifests: on\n", ["collect.manifests", "off, new, all"]),
    "log level off": ("log:\n  level: off\n", ["log.level", "debug, info, warning, error"]),
    "shard not K/N": ("shard: 1-3\n", ["shard", "'1-3'", "K/N", "0/4"]),
    "shard K >= N": ("shard: 4/4\n", ["shard", "0 <= K < N", "4/4"]),
    "impossible expiry date": (
        "compliance:\n  suppressions:\n"
        "  - {check: '*', resource: x, reason: accepted, expires: 2026-13-01}\n",
        ["compliance.suppressions[0].expires", "'2026-13-01'", "2026-12-31"],
    ),
    "suppression without expiry": (
        "compliance:\n  suppressions:\n  - {check: '*', resource: x, reason: accepted}\n",
        ["compliance.suppressions[0]", "missing required key 'expires'"],
    ),
    "bad OU id": (
        "organization:\n  member_role_name: r\n  ous: [finance]\n",
        ["organization.ous[0]", "'finance'", "ou-ab12-cd345678"],
    ),
    "bad organization id": (
        "compliance:\n  trusted_organizations: [org-1]\n",
        ["compliance.trusted_organizations[0]", "'org-1'", "o-a1b2c3d4e5"],
    ),
    "comments only, no region": ("# nothing here\n", ["no region to scan", "--regions"]),
}

# id -> (arguments, environment changes, exit code, what the line must name)
OTHER: dict[str, tuple[list[str], dict[str, str], int, list[str]]] = {
    "config file missing": (
        ["scan", "-c", "/nonexistent/config.yaml"],
        {},
        2,
        ["/nonexistent/config.yaml", "cannot read config file", "No such file"],
    ),
    "config file a directory": (["scan", "-c", "/"], {}, 2, ["cannot read", "Is a directory"]),
    "--concurrency 0": (
        ["scan", "--regions", "us-east-1", "--concurrency", "0"],
        {},
        2,
        ["--concurrency (concurrency.api_calls)", ">= 1", "got 0"],
    ),
    "--concurrency many": (["scan", "--concurrency", "many"], {}, 2, ["--concurrency", "'many'"]),
    "--regions Mars-1": (
        ["scan", "--regions", "Mars-1"],
        {},
        2,
        ["--regions (regions[0])", "'Mars-1'"],
    ),
    "--regions empty": (["scan", "--regions", ""], {}, 2, ["no region to scan"]),
    "--shard 1-3": (
        ["scan", "--regions", "us-east-1", "--shard", "1-3"],
        {},
        2,
        ["--shard: '1-3'", "K/N", "0/4"],
    ),
    "--shard 4/4": (
        ["scan", "--regions", "us-east-1", "--shard", "4/4"],
        {},
        2,
        ["--shard: ", "0 <= K < N", "4/4"],
    ),
    "--since yesterday": (
        ["scan", "--regions", "us-east-1", "--since", "yesterday"],
        {},
        2,
        ["--since: 'yesterday'", "36h"],
    ),
    "permissions --regions Mars-1": (
        ["permissions", "--regions", "Mars-1"],
        {},
        2,
        ["--regions (regions[0])", "'Mars-1'"],
    ),
    "plan --regions Mars-1": (
        ["plan", "--regions", "Mars-1"],
        {},
        2,
        ["--regions (regions[0])", "'Mars-1'"],
    ),
    "--sink ftp": (
        ["scan", "--regions", "us-east-1", "--sink", "ftp://x"],
        {},
        2,
        ["sink 'ftp://x'", "not a sink URI"],
    ),
    "--log-level loud": (["scan", "--log-level", "loud"], {}, 2, ["--log-level", "'loud'"]),
    "--log-format xml": (["scan", "--log-format", "xml"], {}, 2, ["--log-format", "'xml'"]),
    "-c without a path": (["scan", "-c"], {}, 2, ["-c/--config", "expected one argument"]),
    "misspelt flag": (["scan", "--regoins", "us-east-1"], {}, 2, ["--regoins"]),
    "AWS_DEFAULT_REGION bad": (
        ["scan", "--quiet"],
        {"AWS_DEFAULT_REGION": "not a region"},
        2,
        ["'not a region'", "AWS_DEFAULT_REGION", "us-east-1"],
    ),
    "AWS_REGION bad": (
        ["scan", "--quiet"],
        {"AWS_REGION": "Mars-1"},
        2,
        ["'Mars-1'", "AWS_REGION", "us-east-1"],
    ),
    "AWS_ENDPOINT_URL not a URL": (
        ["scan", "--quiet", "--regions", "us-east-1"],
        {"AWS_ENDPOINT_URL": "not-a-url"},
        2,
        ["not-a-url", "AWS_ENDPOINT_URL"],
    ),
    "AWS_ENDPOINT_URL_ECR not a URL": (
        ["scan", "--quiet", "--regions", "us-east-1"],
        {"AWS_ENDPOINT_URL_ECR": "http://"},
        2,
        ["http://", "AWS_ENDPOINT_URL_ECR"],
    ),
    "AWS_STS_REGIONAL_ENDPOINTS garbage": (
        ["scan", "--quiet", "--regions", "us-east-1"],
        {"AWS_STS_REGIONAL_ENDPOINTS": "garbage"},
        2,
        ["AWS configuration", "garbage"],
    ),
}

AWS_SETUP: dict[str, tuple[list[str], dict[str, str], int, list[str]]] = {
    "AWS_PROFILE unknown": (
        ["scan", "--quiet", "--regions", "us-east-1"],
        {"AWS_PROFILE": "nonexistent"},
        2,
        ["nonexistent", "could not be found"],
    ),
    "AWS config file not INI": (
        ["scan", "--quiet", "--regions", "us-east-1"],
        {"AWS_CONFIG_FILE": "CONFIG"},
        2,
        ["Unable to parse config file"],
    ),
    "secret key missing": (
        ["scan", "--quiet", "--regions", "us-east-1"],
        {"AWS_SECRET_ACCESS_KEY": ""},
        3,
        ["AWS_SECRET_ACCESS_KEY", "incomplete"],
    ),
}


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("case", list(CONFIG_FILES))
def test_bad_config_file(aws_env: dict[str, str], tmp_path: Path, case: str) -> None:
    """A malformed config file: exit 2 and one line naming the key and the problem."""
    text, expected = CONFIG_FILES[case]
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("scan", "-c", str(path), env=aws_env)
    assert result.code == 2, result.stderr
    line = one_line(result.stderr)
    for part in expected:
        assert part in line, line
    assert not re.search(r"regex|\\d|\^\[|\$`", line), f"a raw regex: {line}"
    assert result.stdout == ""


def test_a_bad_flag_is_not_blamed_on_the_config_file(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    """`--since yesterday -c FILE` with a good FILE: the line names --since, never the file."""
    path = tmp_path / "full.yaml"
    path.write_text("regions: [us-east-1]\ncollect:\n  manifests: off\n")
    result = cli("scan", "-c", str(path), "--since", "yesterday", env=aws_env)
    assert result.code == 2, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("ecr-crawler: error: --since: 'yesterday' is not a duration"), line
    assert str(path) not in line


def test_config_file_not_utf8(aws_env: dict[str, str], tmp_path: Path) -> None:
    """A config file that is not UTF-8 text: exit 2 and one line saying so."""
    path = tmp_path / "config.yaml"
    path.write_bytes(b"regions: [\xff\xfe]\n")
    result = cli("scan", "-c", str(path), env=aws_env)
    assert result.code == 2, result.stderr
    line = one_line(result.stderr)
    assert str(path) in line
    assert "UTF-8" in line


def _run_other(
    aws_env: dict[str, str], tmp_path: Path, case: tuple[list[str], dict[str, str], int, list[str]]
) -> None:
    args, changes, code, expected = case
    env = {**aws_env, **changes}
    if changes.get("AWS_CONFIG_FILE") == "CONFIG":
        env["AWS_CONFIG_FILE"] = str(tmp_path / "aws-config")
        (tmp_path / "aws-config").write_text("[default\nregion = us-east-1\n")
    result = cli(*args, env=env)
    assert result.code == code, result.stderr
    line = one_line(result.stderr)
    for part in expected:
        assert part in line, line


@pytest.mark.parametrize("case", list(OTHER))
def test_bad_flag_or_environment(aws_env: dict[str, str], tmp_path: Path, case: str) -> None:
    """A bad flag or environment variable: exit 2 and one line naming it and the problem."""
    _run_other(aws_env, tmp_path, OTHER[case])


@pytest.mark.parametrize("case", list(AWS_SETUP))
def test_bad_aws_setup(aws_env: dict[str, str], tmp_path: Path, case: str) -> None:
    """A bad AWS profile, config file or half a key pair: one line, exit 2 (3 for the keys)."""
    _run_other(aws_env, tmp_path, AWS_SETUP[case])


def test_summary_json_in_a_missing_directory(aws_env: dict[str, str]) -> None:
    """--summary-json into a directory that does not exist is a usage error before scanning."""
    result = cli(
        "scan",
        "--quiet",
        "--regions",
        "us-east-1",
        "--summary-json",
        "/nonexistent/s.json",
        env=aws_env,
    )
    assert result.code == 2, result.stderr
    assert "/nonexistent/s.json" in one_line(result.stderr)
    assert result.stdout == ""


def test_at_least_forty_malformed_inputs() -> None:
    """The table holds at least 40 malformed inputs that already give exit 2 or 3."""
    assert len(CONFIG_FILES) + len(OTHER) + 1 >= 40


# ---- fuzzing the config loader ----------------------------------------------------------------


def _dotted_keys(struct: Any = Config, prefix: str = "") -> list[str]:
    """Every key of the config, dotted: sections and their fields."""
    keys = []
    for f in msgspec.structs.fields(struct):
        keys.append(prefix + f.name)
        kind = f.type
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            keys += _dotted_keys(kind, f"{prefix}{f.name}.")
    return keys


KEYS = _dotted_keys()
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["all", "us-east-1", "Mars-1", "jsonl:-", "-", "36h", "1/2", "2/1"])
    | st.sampled_from(["99999999999w", "2026-11-01", "2026-11-01T00:00:00", "arn:aws:iam::x"])
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
key_names = st.sampled_from(KEYS) | st.text(string.ascii_lowercase + "._", max_size=15)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"retry.max_attempts": 3} -> {"retry": {"max_attempts": 3}}, later keys winning."""
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for key in parents:
            child = node.get(key)
            node[key] = child = child if isinstance(child, dict) else {}
            node = child
        node[leaf] = value
    return tree


FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _only_config_errors(call: Any) -> None:
    try:
        config = call()
    except ConfigError as exc:
        message = str(exc).strip()
    else:
        assert isinstance(config, Config)
        return
    assert message, "a ConfigError says what is wrong"
    assert "\n" not in message, message


@FUZZ
@given(flat=st.dictionaries(key_names, values, max_size=6))
def test_fuzz_config_file(flat: dict[str, Any]) -> None:
    """Any YAML mapping of real and made-up keys with any values: a Config or a ConfigError."""
    text = yaml.safe_dump(_nest(flat), allow_unicode=True)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        _only_config_errors(lambda: load_config(path))


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_fuzz_config_file_bytes(text: str | bytes) -> None:
    """Any text or bytes as a config file: a Config or a ConfigError."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        _only_config_errors(lambda: load_config(path))


@FUZZ
@given(
    overrides=st.dictionaries(
        key_names.filter(lambda k: k not in ("path", "flags")), values, max_size=5
    )
)
def test_fuzz_overrides(overrides: dict[str, Any]) -> None:
    """Any dotted overrides (as flags give) with any values: a Config or a ConfigError."""
    _only_config_errors(lambda: load_config(None, **overrides))


@FUZZ
@given(flat=st.dictionaries(key_names, values, max_size=6))
def test_fuzz_the_check_agrees_with_msgspec(flat: dict[str, Any]) -> None:
    """The config check passes what msgspec converts and msgspec converts what the check passes
    (the check also reads a YAML false as "off"), so a message always comes from the check."""
    tree = _nest(flat)
    try:
        checked = check(tree, Config)
    except Invalid:
        checked = None
    try:
        msgspec.convert(tree, Config)
    except msgspec.ValidationError:
        pass
    else:
        assert checked is not None
    if checked is not None:
        msgspec.convert(checked, Config)
