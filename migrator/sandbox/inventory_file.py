"""DIR/inventory.yaml for a sandbox, in the format `migrator.inventory` defines.

Everything a playbook needs goes through the same doors as in production:
ssh to each zone (known_hosts of the sandbox, its client key), `manatee-adm`
and `sitter-ctl enable|disable` on the zone's PATH, the version in the zone's
package.json (as Triton's ``cat /opt/smartdc/manatee/package.json``), and a
reprovision command run locally that does what `migrator sandbox reprovision` does
(``reprovisioner.py``, which spares each reprovision the CLI's start-up).
The file is validated with ``load_inventory`` right after it is written.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from migrator.discovery.headnode_inventory import load_headnode_inventory
from migrator.inventory.load import load_inventory
from migrator.sandbox.config import RELAY_ADDRESS, RELEASES, SandboxConfig
from migrator.sandbox.zones import CLIENT_KEY, KNOWN_HOSTS, ssh_user

INVENTORY_FILE = "inventory.yaml"


def inventory_document(config: SandboxConfig) -> dict[str, Any]:
    directory = config.directory
    reprovision = " ".join(
        shlex.quote(word)
        for word in (sys.executable, "-m", "migrator.sandbox.reprovisioner", "--dir",
                     str(directory))
    ) + " {zone} --to {image}"
    return {
        "shard": config.shard,
        "zookeeper": config.operator_zk_connection,
        "known_hosts": KNOWN_HOSTS,
        "ssh_config": False,
        "ssh": {"user": ssh_user(), "identity": CLIENT_KEY, "connect_timeout": 5},
        "zones": {
            zone.uuid: {
                "host": zone.ip,
                "port": zone.ssh_port,
                "sitter_log": str(config.zone_dir(zone) / "sitter.log"),
            }
            for zone in config.zones
        },
        "versions": {"migrate_to": RELEASES["v2"], "roll_back_to": RELEASES["v1"]},
        # `sandbox reprovision` waits its delay (`up --reprovision-seconds`), then the
        # sitter starts (about a second)
        "estimates": {"session_timeout": config.session_timeout,
                      "reprovision": config.reprovision_delay + 1.0},
        # the write client's records (`sandbox client`): the run's outage figures
        "outage_records": "client",
        "commands": {
            "sitter_log": {"command": "sitter-ctl log"},
            "manatee_version": f"cat {shlex.quote(str(directory / 'zones'))}/{{zone}}/package.json",
            "sitter_config": f"cat {shlex.quote(str(directory / 'zones'))}/{{zone}}/sitter.cfg",
            "manatee_adm": "manatee-adm",
            "pg_position": "manatee-adm pg-position",
            "sitter_disable": "sitter-ctl disable",
            "sitter_enable": "sitter-ctl enable",
            "reprovision": {"run_on": "local", "command": reprovision},
        },
    }


HEADNODE_FILE = "headnode.yaml"


def _zone_commands(config: SandboxConfig) -> dict[str, Any]:
    zones = shlex.quote(str(config.directory / "zones"))
    return {
        "sitter_log": {"command": "sitter-ctl log"},
        "manatee_version": f"cat {zones}/{{zone}}/package.json",
        "sitter_config": f"cat {zones}/{{zone}}/sitter.cfg",
        "manatee_adm": "manatee-adm",
        "pg_position": "manatee-adm pg-position",
        "sitter_disable": "sitter-ctl disable",
        "sitter_enable": "sitter-ctl enable",
    }


def _headnode_target(config: SandboxConfig) -> dict[str, Any]:
    """The headnode as the operator reaches it (through the relay, with a latency)."""
    assert config.headnode is not None
    if "headnode" in config.relay_ports:
        return {"host": RELAY_ADDRESS, "port": config.operator_headnode_port}
    return {"host": config.headnode.ip, "port": config.headnode.ssh_port}


def zlogin_inventory_document(config: SandboxConfig) -> dict[str, Any]:
    """The complete inventory of a `--access zlogin` sandbox: zones by zlogin through
    their compute nodes, nodes reached through the headnode, reprovision by `sapiadm`
    on the headnode (the Triton default template)."""
    headnode = _headnode_target(config)
    jump = f"{ssh_user()}@{headnode['host']}:{headnode['port']}"
    return {
        "shard": config.shard,
        "zookeeper": config.operator_zk_connection,
        "known_hosts": KNOWN_HOSTS,
        "ssh_config": False,
        "ssh": {"user": ssh_user(), "identity": CLIENT_KEY, "connect_timeout": 5,
                "via": "zlogin"},
        "headnode": headnode,
        "nodes": {
            node.uuid: {"host": node.ip, "port": node.ssh_port, "jump": jump,
                        "zones_root": str(config.zones_root(node))}
            for node in config.nodes
        },
        "zones": {zone.uuid: {"node": zone.node, "host": zone.ip} for zone in config.zones},
        "versions": {"migrate_to": RELEASES["v2"], "roll_back_to": RELEASES["v1"]},
        "commands": _zone_commands(config),
    }


def headnode_document(config: SandboxConfig) -> dict[str, Any]:
    """An inventory naming only the headnode, for `migrator inventory discover`."""
    return {
        "known_hosts": KNOWN_HOSTS,
        "ssh_config": False,
        "ssh": {"user": ssh_user(), "identity": CLIENT_KEY, "connect_timeout": 5},
        "headnode": _headnode_target(config),
        "commands": _zone_commands(config),
        "discovery": {
            # the sandbox cannot write /zones: each node's zones root is in DIR
            "zones_root": str(config.owner_directory / "nodes") + "/{server}/zones",
            "node_port": config.nodes[0].ssh_port,  # every node listens on this port
        },
    }


def write_inventory(config: SandboxConfig) -> Path:
    """DIR/inventory.yaml (and DIR/headnode.yaml with --access zlogin). A fleet's top
    directory gets only its headnode.yaml: each shard's inventory is in its own
    directory, DIR/shards/<shard>/inventory.yaml."""
    path = config.directory / INVENTORY_FILE
    if config.shards:
        return write_headnode_file(config)
    header = (
        "# Written by `migrator sandbox up`; the sandbox's own description is sandbox.json.\n"
    )
    zlogin = config.access == "zlogin"
    document = zlogin_inventory_document(config) if zlogin else inventory_document(config)
    path.write_text(header + yaml.safe_dump(document, sort_keys=False))
    load_inventory(path)  # what we write must be what every other command accepts
    if zlogin:
        write_headnode_file(config)
    return path


def write_headnode_file(config: SandboxConfig) -> Path:
    """DIR/headnode.yaml: only the headnode (no shard), for `migrator inventory discover`
    and `migrator fleet discover`."""
    headnode = config.directory / HEADNODE_FILE
    headnode.write_text(
        "# Written by `migrator sandbox up`: only the headnode; `migrator inventory "
        "discover` finds the rest.\n"
        + yaml.safe_dump(headnode_document(config), sort_keys=False))
    load_headnode_inventory(headnode)  # as `inventory discover` will read it
    return headnode
