"""A throwaway sshd zone on loopback for the SSH benchmarks (the tests' runner)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory
from migrator.sandbox.sshd import SshServer, generate_keypair

FAST_SHELL = '/bin/sh -c "$SSH_ORIGINAL_COMMAND"'


@dataclass
class Zone:
    server: SshServer
    inventory: Inventory
    directory: Path
    key: Path


@contextmanager
def zone(host: str = "127.0.0.31", *, source_shell_rc: bool = False) -> Iterator[Zone]:
    with tempfile.TemporaryDirectory(prefix="migrator-bench-ssh-") as tmp:
        directory = Path(tmp)
        key = directory / "id_ed25519"
        generate_keypair(key)
        server = SshServer(directory / "sshd", host, authorized_keys=Path(f"{key}.pub"),
                           force_command=FAST_SHELL, source_shell_rc=source_shell_rc)
        server.start()
        try:
            (directory / "known_hosts").write_text(server.known_hosts_line() + "\n")
            document = {
                "shard": "1.moray.bench", "zookeeper": "127.0.0.1:2181",
                "known_hosts": str(directory / "known_hosts"), "ssh_config": False,
                "ssh": {"user": "root", "identity": str(key), "command_timeout": 600},
                "zones": {"z1": {"host": host, "port": server.port,
                                 "sitter_log": str(directory / "sitter.log")}},
            }
            path = directory / "inventory.yaml"
            path.write_text(yaml.safe_dump(document))
            yield Zone(server, load_inventory(path), directory, key)
        finally:
            server.stop()
