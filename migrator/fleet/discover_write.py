"""The files `migrator fleet discover` writes: every text made first, then written at once.

Every inventory's text is the one `migrator inventory discover` writes (its
provenance comments included), checked as it checks it; then ``fleet.yaml``,
validated as `load_fleet` validates it. Only when all of them are made is
anything written: each file to a hidden temporary beside it and renamed into place,
``fleet.yaml`` last, so a fleet file never names an inventory not yet written.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from migrator.discovery.build import Discovered
from migrator.discovery.checked import checked_inventory_text
from migrator.discovery.written import inert
from migrator.errors import BadInput
from migrator.fleet.discover_match import SKIP, Pick
from migrator.fleet.model import fleet_document, load_fleet
from migrator.inventory.load import load_inventory
from migrator.record import RecordError

FLEET_FILE = "fleet.yaml"


@dataclass(frozen=True)
class FleetFiles:
    fleet: Path
    texts: dict[Path, str]  # every file, fleet.yaml last

    @property
    def inventories(self) -> list[Path]:
        return [p for p in self.texts if p != self.fleet]


def refuse_existing(out_dir: Path) -> None:
    """A fleet file already there is another fleet's (or this one's, being run)."""
    target = out_dir / FLEET_FILE
    if target.exists() or target.is_symlink():
        raise BadInput(f"{target} already exists; nothing was written (a fleet file is "
                       "never replaced: a run may be using it and its inventories).",
                       "Give another --out DIR, or move that folder aside first.")


def fleet_files(origin: Path, out_dir: Path, name: str, picks: list[Pick],
                found: dict[str, Discovered]) -> FleetFiles:
    texts: dict[Path, str] = {}
    entries: list[dict[str, Any]] = []
    for pick in picks:
        if pick.action == SKIP:
            entries.append({"shard": pick.shard, "skip": pick.reason})
            continue
        file = out_dir / f"{pick.shard}.yaml"
        texts[file] = checked_inventory_text(str(origin), pick.shard, found[pick.shard])
        entries.append({"shard": pick.shard, "inventory": file.name})
    try:
        document = fleet_document(name, entries)
    except RecordError as exc:
        raise BadInput(f"The fleet file would not be valid ({exc}); nothing was written.",
                       "Give a --name of letters, digits, '.', '_' and '-' (at most 63), or "
                       "narrow the shards with --shards GLOB.") from None
    fleet = out_dir / FLEET_FILE
    texts[fleet] = fleet_text(origin, document)
    return FleetFiles(fleet, texts)


def fleet_text(origin: Path, document: dict[str, Any]) -> str:
    header = (f"# Written by `migrator fleet discover` from {inert(str(origin))}.\n"
              "# The order of `shards` is the order they start in; a `skip` says why one "
              "is not run.\n")
    return header + yaml.safe_dump(document, sort_keys=False)


def write_files(files: FleetFiles) -> None:
    """Write every file (temporaries first, then renamed, fleet.yaml last) and load each
    back as the commands that read them will."""
    temporaries: list[tuple[Path, Path]] = []
    try:
        for path, text in files.texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text)
            temporaries.append((tmp, path))
    except OSError as exc:
        for tmp, _ in temporaries:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise BadInput(f"Cannot write the fleet's files: {exc.strerror or exc}; nothing was "
                       "written.", "Give a writable --out DIR.") from None
    for tmp, path in temporaries:
        tmp.replace(path)
    for path in files.inventories:
        load_inventory(path)
    load_fleet(files.fleet)
