"""Secrets never leak: a unique marker is planted in every secret input (the secret access key,
the session token, an assumed role's credentials, a database password, ECR's authorization
token) and every output is searched for it: stdout, stderr at debug level (botocore's own logs
included), records, the summary file and every file the run wrote. Also: a config file holding
a secret in plain text is detected, and output files are created owner-only."""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path

import pytest
from awsproxy import AwsProxy, Rule
from conftest import SECRET_KEY, cli

from crawler.config import load_config, plaintext_secrets
from crawler.secrets import REDACTED, holds_password, is_secret_key, redact, redact_uri

TOKEN = "session-TOKEN-MARKER-7d1c5e0b93a4"
ROLE_SECRET = "assumed-SECRET-MARKER-42c8aa10e6f7"
ROLE_TOKEN = "assumed-TOKEN-MARKER-9e03b7d15c22"
DB_PASSWORD = "db-PASSWORD-MARKER-61f0d2c4b8e9"
ECR_PASSWORD = "ecr-PASSWORD-MARKER-3a5f9c7e1d08"
ECR_TOKEN = base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode()
MARKERS = [SECRET_KEY, TOKEN, ROLE_SECRET, ROLE_TOKEN, DB_PASSWORD, ECR_PASSWORD, ECR_TOKEN]
ROLE = "arn:aws:iam::123456789012:role/crawler"


def leaks(*texts: str, roots: tuple[Path, ...] = ()) -> list[str]:
    """Where any marker shows up: in `texts`, or in any file under `roots`."""
    found = [f"output {i}: {m}" for i, text in enumerate(texts) for m in MARKERS if m in text]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {m}" for m in MARKERS if m.encode() in data]
    return found


def plant_role_credentials(proxy: AwsProxy) -> None:
    """AssumeRole (moto) answers with the markers as the role's secret key and token."""

    def plant(xml: str) -> str:
        xml = re.sub(r"<SecretAccessKey>[^<]*<", f"<SecretAccessKey>{ROLE_SECRET}<", xml)
        return re.sub(r"<SessionToken>[^<]*<", f"<SessionToken>{ROLE_TOKEN}<", xml)

    proxy.text_rewrites["AssumeRole"] = plant


def test_no_secret_in_any_output_of_a_scan_at_debug(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """Static keys, session token and an assumed role's credentials (refreshed mid-scan) never
    appear in logs at debug level, records, the summary or any file written, errors included."""
    plant_role_credentials(proxy)
    proxy.rules.append(Rule("access_denied", operation="DescribeImages", rate=0.3))
    proxy.rules.append(Rule("throttle", service="ecr", rate=0.2, times=10))
    config = tmp_path / "config.yaml"
    # 900 s sessions are inside botocore's refresh window: the role is assumed again mid-scan.
    config.write_text(
        f"auth:\n  role_arn: {ROLE}\n  duration_seconds: 900\n"
        "collect:\n  policies: true\n  registry: true\n  tags: true\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    env = {**aws_env, "AWS_SESSION_TOKEN": TOKEN}
    result = cli(
        *("scan", "-c", str(config), "--regions", "us-east-1,eu-west-1", "--log-level", "debug"),
        *("--sink", f"jsonl:{out / 'inventory.jsonl'}", "--summary-json", str(out / "s.json")),
        env=env,
    )
    assert result.code == 1, result.stderr[-2000:]
    assert "botocore" in result.stderr  # botocore's own debug logs were on
    assert proxy.calls["AssumeRole"] > 1
    assert "X-Amz-Security-Token" in result.stderr  # the headers were logged, redacted
    cache = Path(env["XDG_CACHE_HOME"])
    assert leaks(result.stdout, result.stderr, roots=(out, cache)) == []


def test_no_database_password_in_output(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """A PostgreSQL password in the sink URI is in no log line, no error line, no file but the
    config file itself."""
    pytest.importorskip("asyncpg")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sink: postgresql://crawler:{DB_PASSWORD}@127.0.0.1:1/inventory\n"
        "sink_options:\n  retry_seconds: 0.5\n"
    )
    result = cli(
        "scan", "-c", str(config), "--regions", "us-east-1", "--log-level", "debug", env=aws_env
    )
    assert result.code == 1
    assert "127.0.0.1:1" in result.stderr
    assert leaks(result.stdout, result.stderr, roots=(tmp_path,)) == [
        f"{config}: {DB_PASSWORD}"  # the config file itself, nothing else
    ]


def test_no_database_password_in_a_bad_sink_uri_error(aws_env: dict[str, str]) -> None:
    """A mistyped database URI is reported without its password."""
    uri = f"postgres:/crawler:{DB_PASSWORD}@db.example/inventory"
    result = cli("scan", "--regions", "us-east-1", "--sink", uri, env=aws_env)
    assert result.code == 2
    assert leaks(result.stdout, result.stderr) == []


def test_no_authorization_token_in_check_output(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """`permissions` tries only the policy's actions, and GetAuthorizationToken (for `docker
    pull`) is not one: no token is asked for, and a token ECR would hand out (planted here,
    with the password in it) appears nowhere, in the table, the JSON report or the debug
    logs."""

    def plant(
        region: str, request: dict[str, object], reply: dict[str, list[dict[str, object]]]
    ) -> None:
        for data in reply["authorizationData"]:
            data["authorizationToken"] = ECR_TOKEN

    proxy.rewrites["GetAuthorizationToken"] = plant
    config = tmp_path / "config.yaml"
    config.write_text("log:\n  level: debug\n")
    outputs = []
    for fmt in ("table", "json"):
        result = cli(
            *("permissions", "-c", str(config), "--regions", "us-east-1", "--format", fmt),
            env=aws_env,
        )
        assert result.code == 0, result.stderr[-2000:]
        assert "botocore" in result.stderr
        outputs += [result.stdout, result.stderr]
    assert proxy.calls["GetAuthorizationToken"] == 0
    assert leaks(*outputs) == []


# ---- plain-text secrets in config files, owner-only output files ------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        (f"sink: postgresql://u:{DB_PASSWORD}@db/inventory\n", ["sink"]),
        (f"sink: postgresql://u@db/inventory?password={DB_PASSWORD}\n", ["sink"]),
        (f"endpoint_url: http://u:{DB_PASSWORD}@127.0.0.1:4566\n", ["endpoint_url"]),
        ("sink: postgresql://u@db/inventory\n", []),
        ("sink: jsonl:inventory.jsonl\nregions: [us-east-1]\n", []),
        ("", []),
    ],
)
def test_plaintext_secrets_in_a_config_file_are_found(
    tmp_path: Path, text: str, keys: list[str]
) -> None:
    """The keys of a config file that hold a password in plain text are named, never the
    password; URIs without one pass."""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    load_config(path)
    found = plaintext_secrets(path)
    assert [f.split(":")[0] for f in found] == keys
    assert all(DB_PASSWORD not in f for f in found)
    assert plaintext_secrets(None) == []


def test_cli_warns_about_a_plaintext_secret_in_the_config_file(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A config file with a password in the sink URI gets a warning naming the key, not the
    password (a sink that opens: one that fails ends the run first)."""
    pytest.importorskip("asyncpg")
    import pg

    server = pg.shared_cluster(request.config)
    config = tmp_path / "config.yaml"
    config.write_text(f"sink: {server.dsn(server.database())}\n")
    assert pg.PG_PASSWORD in config.read_text()
    result = cli("scan", "-c", str(config), "--regions", "us-east-1", env=aws_env)
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "plain text" in line]
    assert len(warnings) == 1, result.stderr
    assert "sink" in warnings[0]
    assert pg.PG_PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["inventory.jsonl", "inventory.jsonl.gz"])
def test_output_files_are_owner_only(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path, name: str
) -> None:
    """Records that carry repository and registry policies land in an owner-only (0600) file,
    whatever the umask."""
    config = tmp_path / "config.yaml"
    config.write_text("collect:\n  policies: true\n  registry: true\n")
    target = tmp_path / name
    old = os.umask(0o022)
    try:
        result = cli(
            "scan",
            "-c",
            str(config),
            "--regions",
            "eu-west-1",
            "--sink",
            f"jsonl:{target}",
            env=aws_env,
        )
    finally:
        os.umask(old)
    assert result.code == 0, result.stderr[-2000:]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# ---- what counts as a secret (crawler.secrets) -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"postgresql://crawler:{DB_PASSWORD}@db:5432/inventory", DB_PASSWORD),
        (f"postgres:/crawler:{DB_PASSWORD}@db.example/inventory", DB_PASSWORD),  # mistyped
        (f"postgresql://crawler@db/inventory?sslmode=require&password={DB_PASSWORD}", DB_PASSWORD),
        (f"postgresql://db/inventory?sslpassword={DB_PASSWORD}", DB_PASSWORD),
        (f"'X-Amz-Security-Token': '{TOKEN}'", TOKEN),
        (f"<SecretAccessKey>{ROLE_SECRET}</SecretAccessKey>", ROLE_SECRET),
        (f'{{"authorizationToken": "{ECR_TOKEN}"}}', ECR_TOKEN),
    ],
)
def test_redact_removes_a_secret_and_keeps_what_names_it(text: str, secret: str) -> None:
    """A password in a URI (user part or query) and a secret in a logged header or body are
    replaced; the scheme, user, host and header name stay readable."""
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted
    assert redacted.split(REDACTED)[0] == text.split(secret)[0]


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://crawler@db:5432/inventory",
        "http://127.0.0.1:4566/path@x",
        "arn:aws:sts::123456789012:assumed-role/crawler/user@example.com",
        "jsonl:inventory.jsonl",
        "postgresql://crawler:***@db/inventory",
    ],
)
def test_redact_leaves_text_without_a_secret(text: str) -> None:
    """URIs without a password, ARNs with an e-mail session name and masked URIs are unchanged."""
    assert redact(text) == text
    assert not holds_password(text)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"postgresql://crawler:{DB_PASSWORD}@db:5432/inventory", "postgresql://crawler:@db"),
        (f"crawler:{DB_PASSWORD}@db/inventory", "crawler:@db/inventory"),  # scheme left out
        (f"postgres:/crawler:{DB_PASSWORD}@db/inventory", "postgres:/crawler:@db/inventory"),
        (f"postgresql://crawler:p@{DB_PASSWORD}@db/inventory", "postgresql://crawler:@db"),
        (f"postgresql://db/inventory?password={DB_PASSWORD}", "postgresql://db/inventory"),
    ],
)
def test_redact_uri_removes_a_password_whatever_the_uri_looks_like(uri: str, shown: str) -> None:
    """A whole URI shown to a person (a sink's) loses its password even when mistyped, without
    a scheme or with an @ inside; the user and host stay readable."""
    redacted = redact_uri(uri)
    assert DB_PASSWORD not in redacted
    assert redacted.replace(REDACTED, "").startswith(shown.split("@")[0])
    assert shown.split("@")[-1] in redacted


def test_an_image_reference_in_free_text_is_no_password() -> None:
    """In a log line, repo:tag@sha256:... names an image: only a whole URI loses what sits
    between a colon and an @."""
    text = "pulled 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1@sha256:abc"
    assert redact(text) == text
    assert redact_uri("postgresql://crawler@db:5432/inventory") == (
        "postgresql://crawler@db:5432/inventory"
    )


def test_secret_key_names() -> None:
    """Keys named like secrets are secret; ordinary config keys are not."""
    for name in ("aws_secret_access_key", "SessionToken", "password", "Authorization"):
        assert is_secret_key(name)
    for name in ("sink", "role_arn", "session_name", "endpoint_url", "regions"):
        assert not is_secret_key(name)
