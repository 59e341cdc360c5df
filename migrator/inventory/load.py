"""Reading an inventory file: bounded, parsed as YAML with line numbers, validated as
``migrator.inventory.model.Inventory``; every problem names the file, the line and the
field, and relative paths are made relative to the file."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TypeVar

import yaml

from migrator.errors import BadInput
from migrator.inputfile import (
    MAX_INPUT_BYTES,
    MAX_KNOWN_HOSTS_BYTES,
    read_input_text,
    require_identity_file,
    require_regular_file,
)
from migrator.inventory.model import Inventory, SshTarget
from migrator.inventory.values import is_zone_id
from migrator.record import Problem, RecordError
from migrator.yamldoc import AliasExpansionError, parse_document

_T = TypeVar("_T", bound=SshTarget)


def _resolve_paths(inventory: Inventory, base: Path) -> Inventory:
    def fix(path: Path) -> Path:
        expanded = path.expanduser()
        return expanded if expanded.is_absolute() else (base / expanded)

    def fix_target(target: _T) -> _T:
        if not target.identity:
            return target
        return target.replace(identity=[fix(p) for p in target.identity])

    ssh = inventory.ssh
    if ssh.identity:
        ssh = ssh.replace(identity=[fix(p) for p in ssh.identity])
    return inventory.replace(
        known_hosts=fix(inventory.known_hosts) if inventory.known_hosts else None,
        outage_records=fix(inventory.outage_records) if inventory.outage_records else None,
        ssh_config=fix(inventory.ssh_config) if inventory.ssh_config else inventory.ssh_config,
        ssh=ssh,
        headnode=fix_target(inventory.headnode) if inventory.headnode else None,
        nodes={k: fix_target(v) for k, v in inventory.nodes.items()},
        zones={k: fix_target(v) for k, v in inventory.zones.items()},
        morays={k: fix_target(v) for k, v in inventory.morays.items()},
    )


def _check_key_files(inventory: Inventory) -> None:
    """Refuse, at load, an identity file, known_hosts or ssh_config the inventory names
    that exists but is not a regular file of bounded size (``BadInput``, exit 2, naming it).

    Connecting checks them too (``migrator.remote.connection``); checking here as well
    makes every command that loads the inventory stop at once with exit 2, where a zone
    failing to connect would only be one problem among a plan's. A file that does not
    exist is left to the connection, which names it as a key it skipped (an inventory
    may be checked on a machine that lacks the keys).
    """
    targets = [inventory.ssh, inventory.headnode, *inventory.nodes.values(),
               *inventory.zones.values(), *inventory.morays.values()]
    for target in targets:
        for identity in (target.identity or []) if target is not None else []:
            with contextlib.suppress(FileNotFoundError):
                require_identity_file(identity)
    if inventory.known_hosts is not None:
        # a missing one is created when --accept-new-host-keys records a key
        with contextlib.suppress(FileNotFoundError):
            require_regular_file(
                inventory.known_hosts, "known_hosts file", MAX_KNOWN_HOSTS_BYTES,
                "Point `known_hosts:` in the inventory at the known_hosts file itself.")
    if isinstance(inventory.ssh_config, Path):
        # a missing one is refused, naming it, when a session loads it
        with contextlib.suppress(FileNotFoundError):
            require_regular_file(
                inventory.ssh_config.expanduser(), "ssh_config file", MAX_INPUT_BYTES,
                "Point `ssh_config:` in the inventory at the file itself, or set "
                "`ssh_config: false`.")


def _node_at(root: yaml.Node, loc: tuple[int | str, ...]) -> tuple[yaml.Node, int]:
    """The deepest YAML node along a validation error's location, and how far it got."""
    node, depth = root, 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        depth += 1
    return node, depth


def refuse_duplicate_keys(node: yaml.Node, path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise BadInput(
                        f"{path}:{key.start_mark.line + 1}: the key {key.value!r} appears twice "
                        f"(first on line {seen[key.value]}).",
                        "Keep one of them; the inventory lists each zone once.",
                    )
                seen[key.value] = key.start_mark.line + 1
            refuse_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            refuse_duplicate_keys(item, path)


def _check_zone_keys(root: yaml.Node, path: Path) -> None:
    """Report a bad zone id at its own line (validation would name only the table)."""
    for table in ("zones", "morays"):
        node, depth = _node_at(root, (table,))
        if depth != 1 or not isinstance(node, yaml.MappingNode):
            continue
        for key, _value in node.value:
            if not is_zone_id(str(key.value)):
                raise BadInput(
                    f"{path}:{key.start_mark.line + 1}: {table}: {key.value!r} is not a zone id.",
                    "Use a lowercase zone UUID or a short name of letters, digits, '.', '_' "
                    "and '-' starting with a letter.",
                )


def describe_error(problem: Problem, root: yaml.Node, path: Path) -> str:
    node, _depth = _node_at(root, problem.loc)
    field_path = ".".join(str(p) for p in problem.loc) or "(top level)"
    message = problem.message
    if problem.kind == "unknown":
        message = "unknown field (check the spelling against the documented format)"
    return f"{path}:{node.start_mark.line + 1}: {field_path}: {message}"


def load_inventory(path: Path) -> Inventory:
    """Read and validate an inventory; BadInput naming file, line and field on any problem."""
    text = read_input_text(path, "inventory", hint="Check the path given to --inventory.")
    try:
        root, data = parse_document(text)
    except AliasExpansionError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInput(
            f"{where}: the inventory's YAML aliases cannot be used ({exc.problem}).",
            "An inventory needs at most a few shared settings (`<<: *defaults`); write the "
            "values out.",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(
            f"{where}: the inventory is not valid YAML ({problem}).",
            "Fix the syntax; the format is documented in `migrator inventory format`.",
        ) from None
    if root is None or not isinstance(data, dict):
        raise BadInput(
            f"{path}:1: the inventory must be a YAML mapping with shard, zookeeper and zones.",
            "See the documented example in `migrator inventory format`.",
        )
    refuse_duplicate_keys(root, path)
    _check_zone_keys(root, path)
    try:
        inventory = Inventory.validate(data)
    except RecordError as exc:
        errors = exc.problems
        lines = [describe_error(e, root, path) for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise BadInput(
            "The inventory is invalid: " + "; ".join(lines) + more + ".",
            "Fix the field(s) named; the format is documented in `migrator inventory format`.",
        ) from None
    inventory = _resolve_paths(inventory, path.resolve().parent)
    _check_key_files(inventory)
    inventory.loaded_from(path)
    return inventory
