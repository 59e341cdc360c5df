"""Options shared by commands that talk to a shard, and the target they resolve to."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from migrator.cli.types import FiniteFloatRange
from migrator.commands.session import zk_session
from migrator.errors import BadInput
from migrator.zk.client import checked_hosts

if TYPE_CHECKING:
    from kazoo.client import KazooClient

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ShardTarget:
    """Where to find the shard: ZooKeeper string, shard name, and the inventory if any."""

    zk: str
    shard: str | None
    connect_timeout: float
    inventory_path: Path | None
    debug: bool
    inventory: Any = None  # the loaded Inventory when --inventory was given (read once)

    def require_shard(self) -> str:
        if self.shard is None:  # resolve_target(need_shard=True) already refused this
            raise BadInput("No shard was named.", "Pass --shard NAME or set SHARD.")
        return self.shard

    @contextmanager
    def session(self, meanwhile: Callable[[], object] | None = None
                ) -> Iterator[KazooClient]:
        """A ZooKeeper session for the length of the command; ``meanwhile``: see
        ``migrator.zk.client.connect``."""
        with zk_session(self.zk, self.connect_timeout, self.debug, self.inventory,
                        meanwhile) as client:
            yield client


def loading(*modules: str) -> Callable[[], None]:
    """Import ``modules`` (a session's ``meanwhile``): the modules a command reads and
    renders with, imported while ZooKeeper's connection is being made instead of before
    it. The command imports them by name again where it uses them (already loaded
    then). At datacenter distance the connection is two round trips of waiting, and
    these imports (~10 ms CPU for `status`) fit inside them."""

    def load() -> None:
        for name in modules:
            importlib.import_module(name)

    return load


playbook_option = click.option(
    "--playbook", default="auto", show_default=True,
    help="A built-in playbook name, a YAML file, or auto (by the number of peers).",
)


def zk_options(func: F) -> F:
    """-z/--zk/ZK_IPS, -s/--shard/SHARD (as manatee-adm), --inventory, --connect-timeout."""
    func = click.option(
        "--connect-timeout",
        type=FiniteFloatRange(0.1, 300),
        default=10.0,
        show_default=True,
        help="Seconds to wait for ZooKeeper.",
    )(func)
    func = click.option(
        "--inventory",
        "inventory_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Inventory file (gives the ZooKeeper string and shard).",
    )(func)
    func = click.option("--shard", "-s", help="Shard name [env SHARD].")(func)
    func = click.option("--zk", "-z", help="ZooKeeper connection string "
                        "HOST:PORT[,...][/chroot] [env ZK_IPS].")(func)
    return func


def resolve_target(
    ctx: click.Context,
    zk: str | None,
    shard: str | None,
    inventory_path: Path | None,
    connect_timeout: float,
    *,
    need_shard: bool,
) -> ShardTarget:
    """Precedence: explicit option, then the inventory, then the environment."""
    inventory: Any = None
    inventory_zk = inventory_shard = None
    if inventory_path is not None:
        # imported here: PyYAML and the inventory model are needed only with --inventory
        from migrator.inventory.load import load_inventory

        inventory = load_inventory(inventory_path)
        inventory_zk, inventory_shard = inventory.zookeeper, inventory.shard
    zk_value = zk or inventory_zk or os.environ.get("ZK_IPS")
    shard_value = shard or inventory_shard or os.environ.get("SHARD")
    if not zk_value:
        raise BadInput(
            "No ZooKeeper connection string was given.",
            "Pass --zk HOST:PORT[,HOST:PORT][/chroot], set ZK_IPS, or use --inventory.",
        )
    checked_hosts(zk_value.strip())  # a string kazoo cannot use: exit 2 before any work
    if need_shard and not shard_value:
        raise BadInput(
            "No shard was named.",
            "Pass --shard NAME, set SHARD, or use --inventory; `migrator status` lists shards.",
        )
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    return ShardTarget(zk_value, shard_value, connect_timeout, inventory_path, debug, inventory)


def shard_target(*, need_shard: bool) -> Callable[[F], F]:
    """The shared options, resolved into one ``target: ShardTarget`` argument."""
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            *args: Any,
            zk: str | None,
            shard: str | None,
            inventory_path: Path | None,
            connect_timeout: float,
            **kwargs: Any,
        ) -> Any:
            target = resolve_target(
                click.get_current_context(), zk, shard, inventory_path, connect_timeout,
                need_shard=need_shard,
            )
            return func(*args, target=target, **kwargs)

        return zk_options(wrapper)  # type: ignore[return-value]

    return decorate


def target_and_inventory(
    ctx: click.Context,
    zk: str | None,
    shard: str | None,
    inventory_path: Path | None,
    connect_timeout: float,
) -> tuple[ShardTarget, Any]:
    """For commands that drive a run: the target (shard required) and its inventory."""
    target = resolve_target(ctx, zk, shard, inventory_path, connect_timeout, need_shard=True)
    return target, target.inventory
