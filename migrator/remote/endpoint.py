"""Where and as whom to connect: inventory target + ``ssh:`` defaults + ~/.ssh/config.

Precedence (decision): values written in the inventory's zone entry, then the
inventory's ``ssh:`` block (both act like ``ssh`` command-line options), then
``~/.ssh/config`` (HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand),
then OpenSSH's built-in defaults (port 22, the local user). A jump host is
itself resolved through ssh_config, as OpenSSH does; chains are bounded.
An inventory ``jump`` wins over ssh_config's ProxyJump, which wins over its
ProxyCommand.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.errors import BadInput
from migrator.inputfile import MAX_INPUT_BYTES, read_regular_bytes
from migrator.inventory.model import Inventory, JumpHost, SshDefaults, SshTarget

MAX_JUMPS = 8
DEFAULT_SSH_CONFIG = Path("~/.ssh/config")


@dataclass(frozen=True)
class Endpoint:
    """A fully resolved SSH destination."""

    label: str  # what the operator calls it: zone id, "headnode", or "jump host X"
    host: str
    port: int
    user: str
    identities: tuple[Path, ...]
    jump: Endpoint | None = None  # the last hop before this one (chains nest)
    proxy_command: str | None = None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def route(self) -> str:
        """``user@host:port`` preceded by any jump hosts, for messages."""
        if self.jump is not None:
            return f"{self.jump.route()} -> {self.address}"
        if self.proxy_command:
            return f"{self.address} (via ProxyCommand)"
        return self.address

    def key(self) -> tuple[Any, ...]:
        """Identity for sharing a transport (jump hosts reused across zones)."""
        return (self.host, self.port, self.user, self.jump.key() if self.jump else None,
                self.proxy_command)


def load_ssh_config(setting: Path | bool | None) -> Any:
    """A paramiko SSHConfig, or None when disabled or absent."""
    if setting is False:
        return None
    # deferred: paramiko costs ~110 ms to import; only zone work pays it
    import paramiko

    path = (setting if isinstance(setting, Path) else DEFAULT_SSH_CONFIG).expanduser()
    named = isinstance(setting, Path)
    if not named and not path.is_file():
        return None  # no user ssh_config (or not a file): OpenSSH goes on without one
    hint = "Fix the `ssh_config` path or set `ssh_config: false` in the inventory."
    try:
        # a named /dev/zero or FIFO would never end or block for good, as a key would
        data = read_regular_bytes(path, "ssh_config file", MAX_INPUT_BYTES, hint)
    except FileNotFoundError:
        raise BadInput(f"The ssh_config file {path} named in the inventory does not exist.",
                       hint) from None
    except OSError as exc:
        raise BadInput(f"Cannot read the ssh_config file {path}: {exc.strerror or exc}.",
                       hint) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"The ssh_config file {path} is not UTF-8 text (byte {exc.start}).",
                       hint) from None
    try:
        return paramiko.SSHConfig.from_text(text)
    except Exception as exc:  # paramiko raises several types for bad syntax
        raise BadInput(
            f"Cannot parse the ssh_config file {path}: {exc}.",
            "Fix the file or set `ssh_config: false` in the inventory.",
        ) from None


def resolve(
    label: str,
    target: SshTarget | JumpHost,
    defaults: SshDefaults,
    ssh_config: Any,
    *,
    depth: int = 0,
) -> Endpoint:
    """Resolve one destination (pure, given the parsed ssh_config)."""
    if depth > MAX_JUMPS:
        raise BadInput(
            f"The jump-host chain for {label} is longer than {MAX_JUMPS} hops (a loop?).",
            "Check ProxyJump in the inventory and ~/.ssh/config.",
        )
    if target.host is None:
        raise BadInput(
            f"The inventory gives no host for {label}.",
            f"Add `host:` to {label}'s entry, or reach it with `via: zlogin` and its `node:`.",
        )
    looked: dict[str, Any] = ssh_config.lookup(target.host) if ssh_config is not None else {}
    host = str(looked.get("hostname") or target.host)
    port = target.port or defaults.port or int(looked.get("port") or 22)
    user = target.user or defaults.user or looked.get("user") or getpass.getuser()
    identities: list[Path] = []
    own = target.identity if isinstance(target, SshTarget) else None
    # A zone's own identity replaces the `ssh:` default; ssh_config's accumulate, as in ssh.
    for group in (own or defaults.identity, [Path(p) for p in looked.get("identityfile", [])]):
        for path in group or []:
            expanded = path.expanduser()
            if expanded not in identities:
                identities.append(expanded)
    jumps: list[JumpHost] | None = target.jump if isinstance(target, SshTarget) else None
    if jumps is None and isinstance(target, SshTarget):
        jumps = defaults.jump
    proxy_command = None
    if jumps is None:
        proxy_jump = looked.get("proxyjump")
        if proxy_jump and proxy_jump.strip().lower() != "none":
            jumps = [JumpHost.parse(part.strip()) for part in proxy_jump.split(",")]
        else:
            command = looked.get("proxycommand")
            if command and command.strip().lower() != "none":
                proxy_command = str(command)
    hop: Endpoint | None = None
    for index, jump in enumerate(jumps or []):
        hop_label = f"jump host {jump}"
        resolved = resolve(hop_label, jump, _jump_defaults(defaults), ssh_config,
                           depth=depth + index + 1)
        hop = _chain(resolved, hop)
    return Endpoint(label, host, int(port), str(user), tuple(identities), hop, proxy_command)


def _jump_defaults(defaults: SshDefaults) -> SshDefaults:
    # Jump hosts take the user/identity defaults but never the zone's own jump or port.
    return defaults.replace(jump=None, port=None)


def _chain(endpoint: Endpoint, previous: Endpoint | None) -> Endpoint:
    """Put ``previous`` in front of ``endpoint`` (ProxyJump a,b: reach b through a)."""
    if previous is None:
        return endpoint
    if endpoint.jump is None:
        return Endpoint(endpoint.label, endpoint.host, endpoint.port, endpoint.user,
                        endpoint.identities, previous, None)
    return Endpoint(endpoint.label, endpoint.host, endpoint.port, endpoint.user,
                    endpoint.identities, _chain(endpoint.jump, previous), endpoint.proxy_command)


def zone_endpoint(inventory: Inventory, zone: str, ssh_config: Any) -> Endpoint:
    return resolve(zone, inventory.zone(zone), inventory.ssh, ssh_config)


def headnode_endpoint(inventory: Inventory, ssh_config: Any) -> Endpoint:
    if inventory.headnode is None:
        raise BadInput(
            "The inventory names no headnode, but a command is set to run on it.",
            "Add `headnode: {host: ...}` to the inventory, or set `run_on: local`.",
        )
    return resolve("headnode", inventory.headnode, inventory.ssh, ssh_config)


def node_label(name: str) -> str:
    return f"compute node {name}"


def node_endpoint(inventory: Inventory, name: str, ssh_config: Any) -> Endpoint:
    """The global zone of a compute node named in ``nodes:`` (the zlogin route)."""
    return resolve(node_label(name), inventory.node(name), inventory.ssh, ssh_config)
