"""Third-party sinks: a distribution that registers a URI scheme in the `ecr_crawler.sinks`
entry point group is used by `--sink SCHEME:...`, in process and from the command line."""

from __future__ import annotations

import csv
import shutil
import tomllib
from pathlib import Path

import anyio
import pytest
from awsproxy import AwsProxy
from conftest import cli, truth
from pg import DOCS

from crawler.errors import ConfigError
from crawler.sinks import open_sink, plugins

PLUGIN = Path(__file__).parent / "plugin_sink"


def install(target: Path, entry_points: dict[str, str] | None = None) -> Path:
    """What `pip install --target TARGET tests/plugin_sink` lays out: the module, and a
    dist-info whose entry_points.txt importlib.metadata finds on sys.path. Written directly
    from the plugin's pyproject.toml, so no build backend, network or venv change is needed."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    shutil.copy(PLUGIN / "ecr_crawler_csv_sink.py", target)
    info = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = entry_points or project["entry-points"]["ecr_crawler.sinks"]
    lines = [f"{name} = {value}" for name, value in points.items()]
    (info / "entry_points.txt").write_text("[ecr_crawler.sinks]\n" + "\n".join(lines) + "\n")
    return target


def test_installed_plugin_sink_writes_a_scan(
    tmp_path: Path, aws_env: dict[str, str], proxy: AwsProxy
) -> None:
    """`ecr-crawler scan --sink csv:PATH` finds the plugin by its entry point and gets every
    image of the scan."""
    site = tmp_path / "site"
    site.mkdir()
    install(site)
    out = tmp_path / "images.csv"
    env = {**aws_env, "PYTHONPATH": str(site)}
    result = cli("scan", "--regions", "eu-west-1", "--sink", f"csv:{out}", env=env)
    assert result.code == 0, result.stderr
    with out.open() as f:
        rows = list(csv.DictReader(f))
    _, images = truth(proxy.upstream, ["eu-west-1"])
    assert (
        sorted(
            (r["region"], r["repository_name"], r["image_digest"], tuple(r["image_tags"].split()))
            for r in rows
        )
        == images
    )


def test_plugin_is_found_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """open_sink() builds the plugin's class with the whole URI; built-in schemes win."""
    monkeypatch.syspath_prepend(str(install(tmp_path)))
    assert "csv" in plugins()
    sink = open_sink(f"csv:{tmp_path / 'x.csv'}")
    assert type(sink).__name__ == "CsvImageSink"
    anyio.run(sink.aclose)
    assert (tmp_path / "x.csv").read_text().startswith("account_id,region,")
    with pytest.raises(ConfigError, match=r"or a plugin's 'csv:\.\.\.'"):
        open_sink("nope:x")


def test_broken_plugin_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin that cannot be imported, or refuses its URI, is one clear config error."""
    monkeypatch.syspath_prepend(
        str(install(tmp_path, {"gone": "no_such_module:Sink", "csv": "ecr_crawler_csv_sink:X"}))
    )
    with pytest.raises(ConfigError, match=r"sink plugin 'gone' \(no_such_module:Sink\): cannot"):
        open_sink("gone:x")
    with pytest.raises(ConfigError, match="sink plugin 'csv'"):
        open_sink("csv:x")


def test_docs_show_the_tested_plugin() -> None:
    """docs/sinks.md shows this very plugin and its entry point declaration."""
    docs = DOCS.read_text()
    assert (PLUGIN / "ecr_crawler_csv_sink.py").read_text() in docs
    declaration = (PLUGIN / "pyproject.toml").read_text().split("[project.entry-points.")[1]
    assert "[project.entry-points." + declaration.split("\n\n")[0] in docs
