"""Config: defaults, flags over file over defaults, and one clear error per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.config import Config, load_config
from crawler.errors import ConfigError
from crawler.reference import END, START, reference


def test_defaults_without_a_file() -> None:
    """No file and no flags give the documented defaults."""
    config = load_config()
    assert config == Config()
    assert (config.concurrency.api_calls, config.retry.max_attempts, config.sink) == (16, 10, "-")


def test_flags_override_the_file(tmp_path: Path) -> None:
    """A flag wins over the file; keys the flag does not set keep the file's value."""
    path = tmp_path / "c.yaml"
    path.write_text("regions: [eu-west-1]\nconcurrency:\n  api_calls: 4\n  regions: 2\n")
    config = load_config(path, regions="us-east-1, us-west-2", **{"concurrency.api_calls": 8})
    assert config.regions == ["us-east-1", "us-west-2"]
    assert (config.concurrency.api_calls, config.concurrency.regions) == (8, 2)


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    """An empty config file is valid and means the defaults."""
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load_config(path) == Config()


def test_shipped_config_yaml_is_valid_and_states_the_defaults() -> None:
    """config.yaml at the top of the repository documents exactly the defaults."""
    shipped = load_config(Path(__file__).parent.parent / "config.yaml")
    assert shipped == Config()


def test_unknown_nested_key_suggests_the_right_one() -> None:
    """A misspelt key names its full path and the closest known key."""
    with pytest.raises(
        ConfigError, match=r"unknown key 'retry.max_atempts' \(did you mean 'max_attempts'\?\)"
    ):
        load_config(**{"retry.max_atempts": 3})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist says so."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_frozen() -> None:
    """Config objects cannot be changed after validation."""
    config = load_config()
    with pytest.raises(AttributeError):
        config.sink = "jsonl:x"  # type: ignore[misc]


def test_readme_config_reference_is_current() -> None:
    """README's config reference is what the config model generates, key for key."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == reference().strip()
    assert "`retry.max_attempts`" in block
