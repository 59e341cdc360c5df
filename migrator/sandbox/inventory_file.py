"""DIR/inventory.yaml for a sandbox, in the format `migrator.inventory` defines.

Everything a playbook needs goes through the same doors as in production:
ssh to each zone (known_hosts of the sandbox, its client key), `manatee-adm`
and `sitter-ctl enable|disable` on the zone's PATH, the version in the zone's
package.json (as Triton's ``cat /opt/smartdc/manatee/package.json``), and a
reprovision command run locally that calls `migrator sandbox reprovision`.
The file is validated with ``load_inventory`` right after it is written.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from migrator.sandbox.config import RELEASES, SandboxConfig
from migrator.sandbox.zones import CLIENT_KEY, KNOWN_HOSTS, ssh_user

INVENTORY_FILE = "inventory.yaml"


def inventory_document(config: SandboxConfig) -> dict[str, Any]:
    directory = config.directory
    reprovision = " ".join(
        shlex.quote(word)
        for word in (sys.executable, "-m", "migrator", "sandbox", "reprovision", "--dir",
                     str(directory))
    ) + " {zone} --to {image}"
    return {
        "shard": config.shard,
        "zookeeper": config.zk_connection,
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
        # `sandbox reprovision` waits the session timeout plus 2 s, then the sitter starts
        "estimates": {"session_timeout": config.session_timeout,
                      "reprovision": config.session_timeout + 3.0},
        "commands": {
            "sitter_log": {"command": "sitter-ctl log"},
            "manatee_version": f"cat {shlex.quote(str(directory / 'zones'))}/{{zone}}/package.json",
            "manatee_adm": "manatee-adm",
            "sitter_disable": "sitter-ctl disable",
            "sitter_enable": "sitter-ctl enable",
            "reprovision": {"run_on": "local", "command": reprovision},
        },
    }


def write_inventory(config: SandboxConfig) -> Path:
    from migrator.inventory import load_inventory

    path = config.directory / INVENTORY_FILE
    header = (
        "# Written by `migrator sandbox up`; the sandbox's own description is sandbox.json.\n"
    )
    path.write_text(header + yaml.safe_dump(inventory_document(config), sort_keys=False))
    load_inventory(path)  # what we write must be what every other command accepts
    return path
