"""Each zone's manatee version and the primary's view of replication, asked over SSH,
for `migrator status` with an inventory (and its `--watch`).

The zones are asked in parallel, bounded by the inventory's timeouts. Apart from
``migrator.commands.progress`` (ZooKeeper only), so that `status` without an inventory
imports none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from migrator.errors import MigratorError


def zone_replication(inventory: Any, zone: str, session: Any = None) -> dict[str, str]:
    """Each peer's replication, from ``manatee-adm status`` in ``zone`` (the primary's),
    in words (``replication_of``); empty when the zone cannot say. ``session``: a
    ``RemoteSession`` the caller owns (else one is opened and closed here)."""
    if zone not in getattr(inventory, "zones", {}):
        return {}
    # imported here: the SSH session is needed only when an inventory names the zones
    from migrator.remote.manatee_status import parse_status, replication_of
    from migrator.steps.remote import status_command

    with _session_of(inventory, session) as remote:
        try:
            result = remote.run(zone, status_command(inventory), reads_only=True)
            if not result.ok:
                return {}
            return replication_of(parse_status(result.text, inventory.shard))
        except MigratorError:
            return {}


def zone_versions(inventory: Any, zones: list[str], session: Any = None) -> dict[str, str]:
    """Each zone's manatee version as the zone reports it (or why it could not say),
    the zones asked concurrently. ``session``: as for ``zone_replication``."""
    known = [z for z in zones if z in getattr(inventory, "zones", {})]
    if not known:
        return {}
    # imported here: the SSH session is needed only when an inventory names the zones
    from migrator.remote.versions import reported_version

    with _session_of(inventory, session) as remote:

        def ask(zone: str) -> tuple[str, str]:
            try:
                result = remote.run_template(zone, "manatee_version")
            except MigratorError as exc:
                return zone, f"unknown ({exc.message})"
            version = reported_version(result.text) if result.ok else None
            return zone, version or f"unknown (exit status {result.status})"

        with ThreadPoolExecutor(max_workers=min(8, len(known))) as pool:
            return dict(pool.map(ask, known))


def zone_views(inventory: Any, zones: list[str], primary: str | None, session: Any
               ) -> tuple[dict[str, str], dict[str, str] | None]:
    """The zones' versions and the primary's view of replication, asked at the same time
    over one session (one handshake per zone, paid while ZooKeeper was read, when the
    caller opened ``session`` with ``Prewarm`` first)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        versions = pool.submit(zone_versions, inventory, zones, session)
        replication = (pool.submit(zone_replication, inventory, primary, session)
                       if primary is not None else None)
        return versions.result(), None if replication is None else replication.result()


@contextmanager
def _session_of(inventory: Any, session: Any) -> Iterator[Any]:
    """``session`` as it is, or a new one (prewarmed) closed at the end."""
    if session is not None:
        yield session
        return
    from migrator.remote.prewarm import Prewarm

    opened = Prewarm(inventory).session()
    try:
        yield opened
    finally:
        opened.close()
