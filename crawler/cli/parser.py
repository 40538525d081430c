"""The argument parser, built from pieces: each command registers itself with `@command` and
the options it takes; options that several commands share are declared here, once. Nothing
here imports more than argparse, so `ecr-crawler --help` starts at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn

from crawler import __version__

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_CREDENTIALS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXAMPLES = """\
examples:
  ecr-crawler demo
  ecr-crawler scan --regions us-east-1,eu-west-1 --sink jsonl:inventory.jsonl
  ecr-crawler scan --regions all --sink - | jq -r 'select(.type=="image") | .image_uri'
  ecr-crawler scan -c config.yaml --log-format json 2> scan.log
  ecr-crawler lifecycle inventory.db --policy proposed.json

exit codes: 0 complete, 1 completed with errors, 2 bad usage or config,
            3 credentials missing or rejected, 4 findings at or above --fail-on
            (lifecycle --fail-on-danger: a non-empty danger list), 130 interrupted
"""

# Commands that were renamed: their old name is refused with the new one.
RENAMED = {
    "check": "'check' is now 'permissions' (the IAM probe); for compliance checks use 'checks'"
}

Run = Callable[[argparse.Namespace], int]


# NamedTuples, not dataclasses: `import dataclasses` alone is a sixth of --help's time.
class Option(NamedTuple):
    """One argument of a command, as argparse's `add_argument` takes it, and the config key
    its value overrides, if any (None when the flag is not given)."""

    flags: tuple[str, ...]
    settings: dict[str, Any]
    key: str | None = None

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments, as argparse names it."""
        name = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return str(self.settings.get("dest", name.lstrip("-").replace("-", "_")))


def option(*flags: str, key: str | None = None, **settings: Any) -> Option:
    return Option(flags, settings, key)


def config_flags(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The config keys that the command's options override, with the values parsed into `args`
    (None: not given), and the flag behind each key, for load_config to name when a value is
    wrong. Where two flags set one key, the later one given wins (--quiet over --log-level)."""
    values: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for each in COMMANDS[args.command].options:
        if each.key is None:
            continue
        value = getattr(args, each.dest)
        if value is not None or each.key not in values:
            values[each.key] = value
            flags[each.key] = each.flags[-1]
    return values, flags


class Command(NamedTuple):
    name: str
    run: Run
    help: str
    description: str
    epilog: str | None
    options: Sequence[Option]


# Filled by `@command`, in the order `--help` lists them; also the dispatch table.
COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    *,
    help: str,
    description: str | None = None,
    epilog: str | None = None,
    options: Sequence[Option] = (),
) -> Callable[[Run], Run]:
    """Register the decorated function as the command `name`, run with the parsed arguments
    and returning the exit code."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name, run, help, description or help, epilog, options)
        return run

    return register


def severity(text: str) -> str:
    """--fail-on's value; the compliance package is imported only when the flag is given."""
    from crawler.compliance import SEVERITIES

    if text.upper() not in SEVERITIES:
        choices = ", ".join(SEVERITIES)
        raise argparse.ArgumentTypeError(f"invalid choice: '{text}' (choose from {choices})")
    return text.upper()


CONFIG = option("-c", "--config", metavar="PATH", help="YAML config (see config.yaml)")
REGIONS = option(
    "--regions",
    key="regions",
    metavar="LIST",
    help="comma-separated regions, or 'all' (ECR's regions)",
)
FAIL_ON = option(
    "--fail-on",
    type=severity,
    metavar="SEVERITY",
    help="exit 4 when an unsuppressed finding at or above SEVERITY (CRITICAL, HIGH, MEDIUM, "
    "LOW, INFORMATIONAL) remains",
)
# The demo's sink when --sink is not given: a database, so that its output can be queried.
DEMO_SINK = "sqlite:demo-inventory.db"


def sink_option(default: str) -> Option:
    """--sink, whose default differs between `scan` (the config's, else stdout) and `demo`."""
    return option(
        "--sink",
        key="sink",
        metavar="URI",
        help="'-' (stdout), jsonl:PATH[.gz], sqlite:PATH, postgresql://USER@HOST:PORT/DB, "
        f"parquet:DIR (docs/sinks.md); default {default}",
    )


# Where a scan's logs and summary go, after --sink: `scan` and `demo`.
OUTPUT = (
    option("--log-format", key="log.format", choices=["auto", "console", "json"]),
    option("--log-level", key="log.level", choices=["debug", "info", "warning", "error"]),
    # After --log-level: given, it wins (config_flags).
    option(
        "-q",
        "--quiet",
        key="log.level",
        action="store_const",
        const="error",
        help="only errors on stderr, no progress display",
    ),
    option(
        "--summary-json", metavar="PATH", help="also write the scan_summary record here, for CI"
    ),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments of one of the `COMMANDS`; bad usage exits 2 with one line."""
    parser = _Parser(
        prog="ecr-crawler",
        description="Inventory every repository and image of AWS ECR, as typed records.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ecr-crawler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for spec in COMMANDS.values():
        sub = commands.add_parser(
            spec.name,
            help=spec.help,
            description=spec.description,
            epilog=spec.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for each in spec.options:
            sub.add_argument(*each.flags, **each.settings)
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in RENAMED:
        parser.error(RENAMED[argv[0]])
    return parser.parse_args(argv)
