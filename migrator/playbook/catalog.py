"""The built-in playbooks and the ``auto`` choice by peer count.

The playbooks are the repository's ``playbooks/*.yaml``; the package carries them as
``migrator/playbooks`` (a link in the repository, copies in a wheel), read with
``importlib.resources``, so an installed migrator has them wherever it is installed.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from migrator.errors import BadInput, UnexpectedTopology
from migrator.playbook.loader import LoadedPlaybook, load_playbook_file

# for each election size, the playbook `--playbook auto` picks
AUTO_BY_PEERS = {1: "one-node", 2: "two-node", 3: "three-node"}


def playbooks_dir() -> Path:
    return Path(str(files("migrator") / "playbooks"))


def builtin_names() -> list[str]:
    directory = playbooks_dir()
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml"))


def resolve(name_or_path: str, *, check_registry: bool = True) -> LoadedPlaybook:
    """A built-in name, or a path to a YAML file."""
    if name_or_path in builtin_names():
        return load_playbook_file(playbooks_dir() / f"{name_or_path}.yaml",
                                  check_registry=check_registry)
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return load_playbook_file(path)
    raise BadInput(
        f"Unknown playbook {name_or_path!r}.",
        f"Built-in playbooks: {', '.join(builtin_names()) or 'none'}; or give a path to a "
        "YAML file.",
    )


def choose(requested: str, peers: int, shard: str) -> tuple[LoadedPlaybook, str]:
    """The playbook to use and a sentence saying why (``auto`` picks by peer count)."""
    if requested == "auto":
        name = AUTO_BY_PEERS.get(peers)
        if name is None:
            raise UnexpectedTopology(
                f"Shard {shard} has {peers} peers in its election; the built-in playbooks "
                "cover 1, 2 and 3 peers.",
                "Bring the shard to a supported size or pass --playbook with a playbook "
                "written for it.",
            )
        return resolve(name), f"--playbook auto chose {name}: the election has {peers} peer(s)."
    loaded = resolve(requested)
    if loaded.playbook.kind == "rollback":  # added by the rollback issue: never as a migration
        raise BadInput(
            f"Playbook {loaded.name} undoes or repairs a migration; it is not one.",
            "Run it with `migrator rollback` (or `migrator rebuild-deposed`), which first "
            "resolves the current roles from the cluster and the journal.",
        )
    if loaded.playbook.peers != peers:
        raise BadInput(
            f"Playbook {loaded.name} is written for a {loaded.playbook.peers}-node shard, but "
            f"the election of {shard} shows {peers} peer(s).",
            f"Use --playbook auto (it would pick {AUTO_BY_PEERS.get(peers, 'none')}), or bring "
            "the missing peers up first.",
        )
    return loaded, f"Using playbook {loaded.name} as asked."


def _top_level(raw: bytes, key: str) -> str | None:
    """The plain value of a block-style top-level ``key:`` line, or None if not written so.

    Only a top-level key starts at column 0 in block YAML (nested keys, block
    scalars and continuation lines are indented), so this cannot misread.
    """
    match = re.search(rb"(?m)^" + key.encode() + rb":[ \t]*[\"']?([A-Za-z0-9_-]+)[\"']?[ \t]*"
                      rb"(?:#.*)?\r?$", raw)
    return match.group(1).decode() if match else None


def alternatives(loaded: LoadedPlaybook) -> list[LoadedPlaybook]:
    """Other built-in migration playbooks for the same shard size (for `migrator plan`)."""
    out = []
    for name in builtin_names():
        if name == loaded.name:
            continue
        # Skip, without parsing, a file whose plainly written peers or kind rule it
        # out (parsing and validating each costs a few ms of every plan).
        raw = (playbooks_dir() / f"{name}.yaml").read_bytes()
        peers, kind = _top_level(raw, "peers"), _top_level(raw, "kind")
        if (peers is not None and peers != str(loaded.playbook.peers)) or kind == "rollback":
            continue
        # Only named here, never run: the registry check (and the parameter models
        # it compiles) waits until the operator picks it with --playbook.
        other = resolve(name, check_registry=False)
        if other.playbook.kind == "migration" and other.playbook.peers == loaded.playbook.peers:
            out.append(other)
    return out
