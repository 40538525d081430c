"""`ecr-crawler scan` around its sink (crawler/cli/scan.py, crawler/cli/opening.py): where the
records went, where an unfinished scan kept them, the config's warnings before the sink opens,
and signals while it opens."""

from __future__ import annotations

import json
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from awsproxy import AwsProxy, Rule
from conftest import cli

from crawler.cli.opening import SinkOpening
from crawler.config import SinkOptions
from crawler.sinks import Sink, open_sink
from crawler.sinks.postgres import CONNECT_SECONDS


def scan(
    *args: str, env: dict[str, str], preexec_fn: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    """`python -m crawler scan ARGS`, started; stderr is a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", "scan", *args],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


def test_the_summary_says_where_the_records_went(aws_env: dict[str, str], tmp_path: Path) -> None:
    """A finished scan's "scan finished" event names the file that holds the records."""
    target = tmp_path / "inventory.jsonl"
    result = cli("scan", "--regions", "eu-west-1", "--sink", f"jsonl:{target}", env=aws_env)
    assert result.code == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    [finished] = [e for e in events if e["event"] == "scan finished"]
    assert finished["records"] == str(target)


def test_an_interrupted_scan_says_where_it_kept_the_records(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path
) -> None:
    """Ctrl-C mid-scan: exit 130 and a line naming the file that holds what was collected,
    under its interrupted name; the "scan finished" event names no file."""
    proxy.rules.append(Rule("latency", operation="DescribeImages", delay=0.3))
    target = tmp_path / "inventory.jsonl"
    process = scan("--regions", "us-east-1", "--sink", f"jsonl:{target}", env=aws_env)
    assert process.stderr is not None
    for line in process.stderr:
        if "scan started" in line:
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    kept = tmp_path / "inventory.interrupted.jsonl"
    assert kept.exists()
    said = [line for line in stderr.splitlines() if line.startswith("ecr-crawler: ")]
    assert said == [f"ecr-crawler: interrupted; what was collected is kept in {kept}"]
    finished = [json.loads(line) for line in stderr.splitlines() if "scan finished" in line]
    assert [e["status"] for e in finished] == ["interrupted"]
    assert "records" not in finished[0]


def test_a_failed_scan_says_on_its_one_line_where_it_kept_the_records(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    """A scan that fails (a disk that fills under the file) ends on one error line that also
    names the file holding what was collected."""
    target = tmp_path / "inventory.jsonl"
    config = tmp_path / "config.yaml"  # no manifest cache: that file would fill first
    config.write_text("collect:\n  manifests: 'off'\n")

    def small_disk() -> None:
        # Python ignores SIGXFSZ, so writes past the limit fail with EFBIG: a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000, 2_000))

    process = scan(
        *("-c", str(config), "--regions", "us-east-1", "--sink", f"jsonl:{target}"),
        "--quiet",
        env=aws_env,
        preexec_fn=small_disk,
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    kept = tmp_path / "inventory.interrupted.jsonl"
    assert kept.exists()
    [line] = [line for line in stderr.splitlines() if line.startswith("ecr-crawler: ")]
    assert line.startswith(f"ecr-crawler: error: cannot write to {target}: File too large")
    assert line.endswith(f"; what was collected is kept in {kept}")


def test_config_warnings_come_before_a_sink_that_fails_to_open(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    """A password in the config file's sink URI is warned about even when that sink cannot
    open (no server): the warning, then the error line, exit 1, the password nowhere."""
    pytest.importorskip("asyncpg")
    config = tmp_path / "config.yaml"
    config.write_text("sink: postgresql://crawler:pw-in-the-file@127.0.0.1:9/inventory\n")
    result = cli("scan", "-c", str(config), "--regions", "us-east-1", env=aws_env)
    assert result.code == 1, result.stderr
    warning, error = result.stderr.splitlines()
    assert "plain text" in warning
    assert "sink" in warning
    assert error.startswith("ecr-crawler: error: PostgreSQL at ")
    assert "connection refused" in error
    assert "pw-in-the-file" not in result.stderr


@contextmanager
def silent_database() -> Iterator[tuple[str, socket.socket]]:
    """A PostgreSQL URI whose server accepts the connection and never answers, and the socket
    that accepts (its accept() returns once the crawler connects)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        yield f"postgresql://crawler@127.0.0.1:{server.getsockname()[1]}/inventory", server


def test_ctrl_c_while_the_database_does_not_answer_ends_the_scan(
    aws_env: dict[str, str],
) -> None:
    """SIGINT while the sink waits for a server that never answers: "interrupted" and exit 130
    without waiting out the connect timeout (the comparison is with that timeout, not a
    measure of speed)."""
    pytest.importorskip("asyncpg")
    with silent_database() as (uri, server):
        process = scan("--regions", "us-east-1", "--sink", uri, env=aws_env)
        connection, _ = server.accept()
        with connection:
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
            waited = time.monotonic() - started
    assert stderr.splitlines()[-1] == "ecr-crawler: interrupted"
    assert process.returncode == 130
    assert waited < CONNECT_SECONDS / 2


def blocked_in(thread: threading.Thread, function: Callable[..., object]) -> bool:
    """Whether `thread` waits in threading (a join, an event) that `function` called itself,
    rather than, say, in starting a thread."""
    frame = sys._current_frames().get(thread.ident or 0)
    callee = None
    while frame is not None and frame.f_code is not function.__code__:
        frame, callee = frame.f_back, frame
    return (
        frame is not None
        and callee is not None
        and callee.f_code.co_filename == threading.__file__
        and callee.f_code.co_name in ("wait", "join")
    )


def test_a_signal_while_a_file_sink_opens_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT while the main thread waits for the sink, after the thread created the JSON
    lines sink's temporary file and before it kept the sink: `abandon` waits for the thread,
    which closes the sink, and the temporary file is gone. (Python 3.11's `Thread.join`, when
    a signal interrupts it, marks the thread ended while it runs: nothing waited, and the
    process exited with the file still there.)"""
    main = threading.main_thread()
    opening = SinkOpening()

    def wait_for_main(function: Callable[..., object]) -> None:
        deadline = time.monotonic() + 10
        while not blocked_in(main, function) and time.monotonic() < deadline:
            time.sleep(0.001)

    def open_then_stall(uri: str, options: SinkOptions) -> Sink:
        sink = open_sink(uri, options)  # its temporary file exists from here
        wait_for_main(SinkOpening.open)
        signal.pthread_kill(main.ident or 0, signal.SIGINT)
        wait_for_main(SinkOpening.abandon)  # the signal came before the thread kept the sink
        return sink

    monkeypatch.setattr("crawler.cli.opening.open_sink", open_then_stall)
    monkeypatch.setattr("crawler.cli.opening.GRACE_SECONDS", 30.0)  # however loaded the machine
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            opening.open(f"jsonl:{tmp_path / 'inventory.jsonl'}", SinkOptions())
        opening.abandon()  # as `scan_command` does on KeyboardInterrupt
    finally:
        signal.signal(signal.SIGINT, previous)
    assert list(tmp_path.iterdir()) == []
