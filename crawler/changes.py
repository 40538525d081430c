"""What changed between two scans: images added, removed and retagged (a tag moved from one
digest to another), repositories added, removed or with changed settings, as `change` records.

A scan's state is small: per repository its settings and a digest -> tags map, never whole
records. Removals are only reported for (account, region) units that both scans completed, so
a failed region never looks like deleted images.

A setting that is null on either side is unknown, not a value, and is never reported as
changed: null is what a scan writes for what its `collect:` did not ask for (policies, tags,
scanning configuration), or for what was denied or unreadable, and two scans with different
`collect:` must not look like changed repositories. The decision is taken from the fields'
nullness, not from the scan_summary, which does not say what was collected; it also holds for
a saved scan whose config is gone. A setting that is empty is `{}`, not null, so a policy or
tag removed is still a change. (The one setting AWS omits when empty, the tag-mutability
exclusion filters, comes and goes with `image_tag_mutability`, which is reported.)"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from crawler.errors import ConfigError
from crawler.records import Change, Image, Repository, ScanRecord, ScanSummary
from crawler.secrets import redact_uri
from crawler.sinks.saved import open_saved

RepoKey = tuple[str, str, str]  # account, region, repository
# Repository fields that are identity or bookkeeping, not settings.
NOT_SETTINGS = {"scan_id", "account_id", "region", "registry_id", "repository_name", "type"}


@dataclass
class State:
    """One scan, reduced to what a diff needs."""

    scan_id: str | None = None
    settings: dict[RepoKey, dict[str, Any]] = field(default_factory=dict)
    images: dict[RepoKey, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    complete: set[tuple[str, str]] = field(default_factory=set)
    finished: bool = False

    def add(self, record: ScanRecord) -> None:
        if isinstance(record, Repository):
            key = (record.account_id, record.region, record.repository_name)
            settings = msgspec.to_builtins(record)
            self.settings[key] = {k: v for k, v in settings.items() if k not in NOT_SETTINGS}
            self.images.setdefault(key, {})
        elif isinstance(record, Image):
            key = (record.account_id, record.region, record.repository_name)
            self.images.setdefault(key, {})[record.image_digest] = tuple(record.image_tags)
        elif isinstance(record, ScanSummary):
            self.scan_id = record.scan_id
            self.finished = record.status != "interrupted"
            self.complete = {
                (account, region)
                for account, regions in record.accounts.items()
                for region, counts in regions.items()
                if counts.errors == 0 and region != "*"
            }


def read_state(path: str | Path) -> State:
    """A saved scan: JSON lines (.jsonl, .jsonl.gz) or a SQLite sink's database."""
    state = _read(str(path))
    if not state.finished:
        raise ConfigError(f"{path}: not a finished scan (no scan_summary, or interrupted)")
    return state


def previous_scan(sink: str) -> State | None:
    """The last finished scan in the sink `--emit-changes` compares with: the file of a
    jsonl:PATH sink, the database of a sqlite:PATH sink; None when there is none yet."""
    scheme, _, path = sink.partition(":")
    if scheme == "jsonl" and path not in ("", "-"):
        return read_state(path) if Path(path).exists() else None
    if scheme == "sqlite" and path:
        if not Path(path).exists():
            return None
        state = _read(sink)
        # The database's last scan was interrupted: its rows are part this scan, part the one
        # before, which is no state to compare with (the next scan will have one).
        return state if state.finished else None
    raise ConfigError(
        f"--emit-changes compares with the previous scan in the sink, so it needs a "
        f"jsonl:PATH or sqlite:PATH sink, not '{redact_uri(sink)}' (or compare two outputs with "
        "ecr-crawler diff)"
    )


def _read(location: str) -> State:
    state = State()
    for record in open_saved(location).records:
        state.add(record)
    return state


def diff(old: State, new: State) -> Iterator[Change]:
    units = old.complete & new.complete
    for key in sorted(old.settings.keys() | new.settings.keys()):
        account, region, repository = key
        if (account, region) not in units:
            continue
        base: dict[str, Any] = {
            "scan_id": new.scan_id or "",
            "previous_scan_id": old.scan_id,
            "account_id": account,
            "region": region,
            "repository_name": repository,
        }
        if key not in old.settings:
            yield Change(**base, change="repository_added")
        elif key not in new.settings:
            yield Change(**base, change="repository_removed")
        elif changed := _changed_settings(old.settings[key], new.settings[key]):
            yield Change(**base, change="repository_changed", fields=changed)
        yield from _images(base, old.images.get(key, {}), new.images.get(key, {}))


def _changed_settings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The settings both scans know (neither null) and that differ, by name."""
    known = (k for k in before.keys() & after.keys() if None not in (before[k], after[k]))
    return sorted(k for k in known if before[k] != after[k])


def _images(
    base: dict[str, Any], old: dict[str, tuple[str, ...]], new: dict[str, tuple[str, ...]]
) -> Iterator[Change]:
    for digest in sorted(new.keys() - old.keys()):
        yield Change(**base, change="image_added", image_digest=digest, new_tags=list(new[digest]))
    for digest in sorted(old.keys() - new.keys()):
        yield Change(
            **base, change="image_removed", image_digest=digest, old_tags=list(old[digest])
        )
    old_tag = {tag: digest for digest, tags in old.items() for tag in tags}
    new_tag = {tag: digest for digest, tags in new.items() for tag in tags}
    for tag in sorted(old_tag.keys() & new_tag.keys()):
        if old_tag[tag] != new_tag[tag]:
            yield Change(
                **base,
                change="tag_moved",
                tag=tag,
                old_digest=old_tag[tag],
                new_digest=new_tag[tag],
            )


class ChangeSink:
    """Wraps a sink: records pass through, and just before the summary of a finished scan the
    changes since `previous` are written too."""

    def __init__(self, inner: Any, previous: State) -> None:
        self._inner = inner
        self._previous = previous
        self._state = State()

    async def write(self, batch: Iterable[ScanRecord]) -> None:
        batch = list(batch)
        for record in batch:
            self._state.add(record)
        last = batch[-1] if batch else None
        if isinstance(last, ScanSummary) and self._state.finished:
            records = [*batch[:-1], *diff(self._previous, self._state)]
            for start in range(0, len(records), 1000):
                await self._inner.write(records[start : start + 1000])
            await self._inner.write([last])
        else:
            await self._inner.write(batch)

    async def aclose(self) -> None:
        await self._inner.aclose()
