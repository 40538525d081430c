"""Compliance report formats: SARIF 2.1.0 against the official schema, the HTML report rendered
by headless Chromium, JSON and the summary table."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import date
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]  # ships no hints; no types-jsonschema dev dep
import msgspec
import pytest
from awsproxy import AwsProxy
from conftest import make_config, run_scan
from registry_model import model_registry
from rich.console import Console

from crawler.compliance import RULES, Report, run_checks
from crawler.compliance.formats import print_table, to_json, to_sarif
from crawler.compliance.html import COLORS, to_html
from crawler.config import Compliance

SCHEMA = Path(__file__).parent / "compliance" / "sarif-schema-2.1.0.json"
SETTINGS = {
    "require_kms": ["*"],
    "suppressions": [
        {
            "check": "mutable-tags",
            "resource": "web/*",
            "reason": "release job",
            "expires": "2999-12-31",
        },
        {"check": "*", "resource": "ml/*", "reason": "retired", "expires": "2000-01-01"},
    ],
}


@pytest.fixture(scope="module")
def report(session_proxy: AwsProxy, registry: str) -> Report:
    """The checks over a scan of two regions with every check's data collected."""
    session_proxy.reset()
    model_registry(session_proxy)
    config = make_config(
        session_proxy,
        regions=["us-east-1", "ap-southeast-2"],
        **{"collect.registry": True, "collect.policies": True},
    )
    _, sink = run_scan(config)
    return run_checks(sink.records, msgspec.convert(SETTINGS, Compliance))


def test_sarif_validates_against_the_sarif_2_1_0_schema(report: Report) -> None:
    """The SARIF log is valid SARIF 2.1.0, with a rule per check, a located result per finding
    and suppressed findings marked as accepted suppressions."""
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    log = json.loads(json.dumps(to_sarif(report)))
    assert not [e.message for e in validator.iter_errors(log)]
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "ecr-crawler"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.id for r in RULES]
    assert len(run["results"]) == len(report.findings)
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["policy-external-access"] == "error"
    assert levels["mutable-tags"] == "warning"
    location = run["results"][0]["locations"][0]
    assert location["logicalLocations"][0]["kind"] == "resource"
    assert location["physicalLocation"]["artifactLocation"]["uri"].startswith(
        "123456789012.dkr.ecr."
    )
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert suppressed
    assert suppressed[0]["suppressions"][0]["status"] == "accepted"
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "critical"  # not a SARIF level
    assert list(validator.iter_errors(broken))


def test_json_and_table_say_what_was_found_skipped_and_expired(report: Report) -> None:
    """JSON lists every check with its status and the findings; the table ends with the open
    counts and the expired suppression."""
    data = json.loads(json.dumps(to_json(report), default=str))
    statuses = {c["id"]: c["status"] for c in data["checks"]}
    assert statuses["mutable-tags"] == "failed"
    assert statuses["policy-public-access"] == "passed"
    assert data["suppressions"][1]["expired"] is True
    assert {f["type"] for f in data["findings"]} == {"finding"}
    console = Console(record=True, width=200)
    print_table(report, console)
    text = console.export_text()
    assert "open findings:" in text
    assert "expired suppression: * for ml/* ended 2000-01-01" in text
    assert date(2000, 1, 1) < date.today()


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _run_chromium(chromium: str, profile: Path, *args: str) -> str:
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _png_rows(data: bytes, rows: int) -> tuple[int, int, list[bytes], int]:
    """Width, height, the first `rows` rows of pixels (unfiltered) and bytes per pixel of an
    8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    bpp = {2: 3, 6: 4}[color]
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * rows)
    out: list[bytes] = []
    prev = bytearray(stride)
    for y in range(rows):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out.append(bytes(line))
        prev = line
    return width, height, out, bpp


def test_html_report_renders_in_headless_chromium(report: Report, tmp_path: Path) -> None:
    """The self-contained HTML report renders in headless Chromium: a heading per check in the
    rendered DOM, and a screenshot that is a real image showing the severity chart."""
    chromium = _chromium()
    html = to_html(report)
    assert not re.search(r"<script|<link|src=|url\(|https?://(?!www\.w3\.org/2000/svg)", html)
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    dom = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    headings = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2>(.*?)</h2>", dom)]
    assert headings[:2] == ["Open findings by region and severity", "Summary"]
    assert [f"{r.id}: {r.title}" for r in RULES] == [h for h in headings if ": " in h]
    assert dom.count("<table>") >= len(RULES) + 1
    shot = tmp_path / "report.png"
    _run_chromium(
        chromium,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
        page.as_uri(),
    )
    width, height, rows, bpp = _png_rows(shot.read_bytes(), 600)
    assert (width, height) == (1280, 2000)
    pixels = {row[x : x + 3] for row in rows for x in range(0, len(row), bpp)}
    assert len(pixels) > 50  # text, badges and bars, not a blank page
    high = bytes.fromhex(COLORS["HIGH"][1:])
    medium = bytes.fromhex(COLORS["MEDIUM"][1:])
    assert {high, medium} <= pixels  # the chart's bars were drawn


def test_no_findings_renders_a_clean_report() -> None:
    """With nothing to check, every format still renders: no findings, valid shapes."""
    empty = run_checks([])
    assert "No open findings." in to_html(empty)
    assert to_sarif(empty)["runs"][0]["results"] == []
    assert all(c["status"] == "n/a" for c in to_json(empty)["checks"])
