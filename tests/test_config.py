"""Config: defaults, flags over file over defaults, and one clear error per problem."""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
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
    overrides: dict[str, Any] = {"concurrency.api_calls": 8}
    config = load_config(path, regions="us-east-1, us-west-2", **overrides)
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
    misspelt: dict[str, Any] = {"retry.max_atempts": 3}
    with pytest.raises(
        ConfigError, match=r"unknown key 'retry.max_atempts' \(did you mean 'max_attempts'\?\)"
    ):
        load_config(**misspelt)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist says so."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_frozen() -> None:
    """Config objects cannot be changed after validation."""
    config = load_config()
    with pytest.raises(AttributeError):
        config.sink = "jsonl:x"  # type: ignore[misc]  # what mypy rejects is what is tested


def test_readme_config_reference_is_current() -> None:
    """README's config reference is what the config model generates, key for key."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == reference().strip()
    assert "`retry.max_attempts`" in block


# ---- YAML booleans in enum keys (issue 18) -----------------------------------------------------


def _enum_keys(struct: Any = Config, prefix: str = "") -> list[tuple[str, tuple[str, ...]]]:
    """(dotted key, choices) for every key of the config whose value is one of fixed strings."""
    found = []
    for field in msgspec.structs.fields(struct):
        kind = field.type
        members = get_args(kind) if get_origin(kind) in (Union, UnionType) else (kind,)
        for member in members:
            if get_origin(member) is Literal:
                found.append((prefix + field.name, get_args(member)))
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            found += _enum_keys(kind, f"{prefix}{field.name}.")
    return found


def _nested(dotted: str, value: str) -> str:
    *parents, leaf = dotted.split(".")
    lines = [f"{'  ' * depth}{key}:" for depth, key in enumerate(parents)]
    return "\n".join([*lines, f"{'  ' * len(parents)}{leaf}: {value}"]) + "\n"


@pytest.mark.parametrize("word", ["off", "no", "false", "Off"])
def test_manifests_off_in_yaml_means_off(tmp_path: Path, word: str) -> None:
    """`manifests: off` (which YAML reads as false) and its synonyms mean "off"."""
    path = tmp_path / "c.yaml"
    path.write_text(f"collect:\n  manifests: {word}\n  scan_findings: {word}\n")
    config = load_config(path)
    assert (config.collect.manifests, config.collect.scan_findings) == ("off", "off")


@pytest.mark.parametrize(("key", "choices"), _enum_keys())
@pytest.mark.parametrize("word", ["off", "on", "yes", "no", "true", "false"])
def test_every_enum_key_takes_a_yaml_boolean_as_meant(
    tmp_path: Path, key: str, choices: tuple[str, ...], word: str
) -> None:
    """For every key with fixed choices, an unquoted on/off/yes/no/true/false is the choice it
    names ("off" for a false, "on" for a true) or one error naming the key and every choice."""
    meant = "off" if word in ("off", "no", "false") else "on"
    path = tmp_path / "c.yaml"
    path.write_text(_nested(key, word))
    if meant in choices:
        value: Any = load_config(path)
        for part in key.split("."):
            value = getattr(value, part)
        assert value == meant
        return
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"{key}: " in message
    assert f"one of: {', '.join(choices)}" in message
    assert "YAML reads" in message


def test_an_enum_key_audit_covers_the_known_ones() -> None:
    """The audit above sees every enum key, the two collect modes among them."""
    keys = dict(_enum_keys())
    assert keys["collect.manifests"] == ("off", "new", "all")
    assert keys["collect.scan_findings"] == ("off", "summary", "full")
    assert {"log.level", "log.format", "partition", "regions", "compliance.checks"} <= set(keys)


# ---- where a value came from, and what a valid one looks like ----------------------------------


def test_a_bad_since_flag_names_the_flag_not_the_file(tmp_path: Path) -> None:
    """`--since yesterday -c FILE`: the error names --since and what it takes, not the file."""
    path = tmp_path / "full.yaml"
    path.write_text("regions: [us-east-1]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, flags={"since": "--since"}, since="yesterday")
    message = str(caught.value)
    assert message.startswith("--since: 'yesterday' is not a duration such as 36h")
    assert str(path) not in message


def test_a_bad_since_in_the_file_names_the_file(tmp_path: Path) -> None:
    """The same value in the file blames the file and its key."""
    path = tmp_path / "full.yaml"
    path.write_text("since: yesterday\n")
    with pytest.raises(ConfigError, match=rf"^{path}: since: 'yesterday' is not a duration"):
        load_config(path, flags={"since": "--since"})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"shard": "1-3"}, "--shard: '1-3' is not K/N (shard K of N), e.g. 0/4"),
        ({"shard": "3/2"}, "--shard: K/N needs 0 <= K < N, got 3/2"),
        ({"since": "99999999999w"}, "--since: '99999999999w' reaches back too far"),
        ({"since": "2026-11-01T00:00:00"}, "--since: give a time zone"),
        (
            {"concurrency.api_calls": 0},
            "--concurrency (concurrency.api_calls): expected `int` >= 1",
        ),
        ({"regions": "us-east-1,Mars-1"}, "--regions (regions[1]): 'Mars-1' is not a region name"),
    ],
)
def test_errors_about_a_flag_name_the_flag(overrides: dict[str, Any], expected: str) -> None:
    """Every check, the cross-key ones included, blames the flag that gave the value."""
    flags = {"shard": "--shard", "since": "--since", "regions": "--regions"}
    flags["concurrency.api_calls"] = "--concurrency"
    with pytest.raises(ConfigError) as caught:
        load_config(None, flags=flags, **overrides)
    assert str(caught.value).startswith(expected)


def _patterns(kind: Any, where: str) -> list[tuple[str, Any]]:
    """(key, Annotated metadata) of every constrained string under an annotation."""
    found = []
    if get_origin(kind) is Annotated:
        found += [(where, meta) for meta in get_args(kind)[1:] if getattr(meta, "pattern", None)]
    for arg in get_args(kind):
        found += _patterns(arg, where)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        for field in msgspec.structs.fields(kind):
            found += _patterns(field.type, f"{where}.{field.name}".lstrip("."))
    return found


def test_every_pattern_says_what_it_wants() -> None:
    """Every regex of the model carries a `form` in words, so no message shows a raw regex."""
    patterns = _patterns(Config, "")
    assert len(patterns) >= 10
    missing = [key for key, meta in patterns if not (meta.extra or {}).get("form")]
    assert missing == []


def test_an_impossible_date_is_a_config_error_at_its_key(tmp_path: Path) -> None:
    """A suppression that expires on 2026-13-01 is reported at its key, not as a crash."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "compliance:\n  suppressions:\n"
        "  - {check: '*', resource: x, reason: accepted, expires: 2026-13-01}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: compliance.suppressions[0].expires: '2026-13-01' is not a date such as 2026-12-31"
    )


@pytest.mark.parametrize("text", ["x: !!int abc\n", "x: !!bool maybe\n", "x: !!float x\n"])
def test_a_scalar_yaml_cannot_build_is_invalid_yaml(tmp_path: Path, text: str) -> None:
    """An explicitly tagged scalar that PyYAML cannot build is "not valid YAML" with its line."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 1\)"):
        load_config(path)
