"""FLEET.yaml: the shards of one fleet and the inventory of each.

Format (written by `migrator fleet discover`, or by hand)::

    fleet: us-east-1                 # the fleet's name: its lock and its typed confirmation
    shards:
      - shard: 1.moray.us-east.joyent.us
        inventory: 1.moray.us-east.joyent.us.yaml   # relative to this file
      - shard: 2.moray.us-east.joyent.us
        inventory: 2.moray.us-east.joyent.us.yaml
      - shard: 3.moray.us-east.joyent.us
        skip: already at v2          # listed, never run (discovery writes why)

Decisions:
  - the order of ``shards`` is the order shards start in;
  - a shard appears once; its inventory must name that very shard (checked when the
    inventory is loaded, by the command that loads it);
  - a skipped shard needs no inventory; every other shard needs one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from migrator.errors import BadInput
from migrator.inputfile import read_input_text
from migrator.inventory.load import describe_error, refuse_duplicate_keys
from migrator.inventory.values import check_shard_name
from migrator.record import Record, RecordError, field
from migrator.yamldoc import parse_document

MAX_SHARDS = 500
FLEET_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"


class FleetShard(Record):
    shard: str = field(check=check_shard_name)
    inventory: Path | None = None
    skip: str | None = field(default=None, min_length=1)

    def check_record(self) -> None:
        if self.skip is None and self.inventory is None:
            raise ValueError(f"shard {self.shard}: give its `inventory` (or `skip: WHY`)")


class FleetFile(Record):
    fleet: str = field(pattern=FLEET_NAME_PATTERN)
    shards: list[FleetShard]

    def check_record(self) -> None:
        if not self.shards:
            raise ValueError("`shards` lists no shard")
        if len(self.shards) > MAX_SHARDS:
            raise ValueError(f"`shards` lists {len(self.shards)} shards (at most {MAX_SHARDS})")
        seen: set[str] = set()
        for entry in self.shards:
            if entry.shard in seen:
                raise ValueError(f"shard {entry.shard} is listed twice")
            seen.add(entry.shard)


@dataclass(frozen=True)
class Fleet:
    """A loaded fleet file: inventory paths resolved against the file's folder."""

    name: str
    path: Path
    shards: tuple[FleetShard, ...]
    # sha256 of the bytes loaded: what a saved fleet plan binds (the file is read once,
    # bounded, rather than again, whole, to digest it)
    digest: str = ""

    @property
    def to_run(self) -> tuple[FleetShard, ...]:
        return tuple(s for s in self.shards if s.skip is None)

    def shard(self, name: str) -> FleetShard:
        for entry in self.shards:
            if entry.shard == name:
                return entry
        raise BadInput(f"The fleet {self.name} ({self.path}) has no shard {name!r}.",
                       "Name one of: " + ", ".join(s.shard for s in self.shards) + ".")


def load_fleet(path: Path) -> Fleet:
    """The validated fleet file, or BadInput naming the line and the fix."""
    # bounded and UTF-8: a --fleet of /dev/zero or a FIFO is refused, not read for ever
    text = read_input_text(path, "fleet file", hint="Check the path given to --fleet "
                           "(`migrator fleet discover` writes DIR/fleet.yaml).")
    try:
        root, data = parse_document(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInput(f"{where}: the fleet file is not valid YAML.",
                       "Fix the syntax; the format is in docs/fleet.md.") from None
    if root is None or not isinstance(data, dict):
        raise BadInput(f"{path}:1: the fleet file must be a YAML mapping with `fleet:` and "
                       "`shards:`.", "See docs/fleet.md for the format.")
    refuse_duplicate_keys(root, path)
    try:
        parsed = FleetFile.validate(data)
    except RecordError as exc:
        lines = [describe_error(e, root, path) for e in exc.problems[:5]]
        raise BadInput("The fleet file is invalid: " + "; ".join(lines) + ".",
                       "Fix the field(s) named; the format is in docs/fleet.md.") from None
    base = path.resolve().parent
    shards = tuple(
        entry if entry.inventory is None else entry.replace(
            inventory=_resolved(base, entry.inventory))
        for entry in parsed.shards
    )
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Fleet(parsed.fleet, path.resolve(), shards, digest)


def _resolved(base: Path, value: Path) -> Path:
    expanded = value.expanduser()
    return expanded if expanded.is_absolute() else base / expanded


def fleet_document(name: str, shards: list[dict[str, Any]]) -> dict[str, Any]:
    """The data of a fleet file (for writers): validated as `load_fleet` would."""
    document = {"fleet": name, "shards": shards}
    FleetFile.validate(document)
    return document
