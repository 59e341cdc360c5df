"""Conditional writes to a shard's /state, each one ZooKeeper transaction.

=============  =================================================  ====================
operation      transaction                                        fails (nothing kept)
=============  =================================================  ====================
create_state   create history/0- (sequential) + create /state      /state exists
replace_state  create history/0- (sequential) + set /state at v    /state changed or gone
delete_state   delete /state at v                                 /state changed or gone
=============  =================================================  ====================

The history record holds the same bytes as the state, as manatee-adm writes it.

Each write is noted (``ours``) before it is committed, per client and shard, so
that a run watching /state (``migrator.engine.statewatch``) can tell its own
writes from anyone else's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.cluster.state import ClusterState
from migrator.errors import StateAlreadyExists, StateConflict
from migrator.zk import paths

if TYPE_CHECKING:
    from kazoo.client import KazooClient


_OURS: dict[tuple[int, str], list[bytes | None]] = {}
_KEEP = 32


def note_ours(client: Any, shard: str, data: bytes | None) -> None:
    """Remember a /state content this client is about to write (None: a delete)."""
    written = _OURS.setdefault((id(client), shard), [])
    written.append(data)
    del written[:-_KEEP]


def ours(client: Any, shard: str) -> list[bytes | None]:
    """The /state contents this client wrote (or was about to), newest last."""
    return list(_OURS.get((id(client), shard), []))


@dataclass(frozen=True)
class WriteResult:
    state_path: str
    history_node: str | None
    version: int | None  # the /state version after the write; None after a delete


def _commit(client: KazooClient, build: Any) -> list[Any]:
    transaction = client.transaction()
    build(transaction)
    results: list[Any] = transaction.commit()
    return results


def _first_error(results: list[Any]) -> Exception | None:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import RolledBackError

    errors = [r for r in results if isinstance(r, Exception)]
    real = [e for e in errors if not isinstance(e, RolledBackError)]
    return real[0] if real else (errors[0] if errors else None)


def _ensure_history_parent(client: KazooClient, shard: str) -> None:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NodeExistsError

    with contextlib.suppress(NodeExistsError):
        client.create(paths.history_path(shard), b"")


def create_state(client: KazooClient, shard: str, state: ClusterState) -> WriteResult:
    """Backfill: create /state only if absent, with its history record."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NodeExistsError

    _ensure_history_parent(client, shard)
    data = state.to_bytes()
    note_ours(client, shard, data)
    results = _commit(
        client,
        lambda t: (
            t.create(paths.admin_history_prefix(shard), data, sequence=True),
            t.create(paths.state_path(shard), data),
        ),
    )
    error = _first_error(results)
    if isinstance(error, NodeExistsError):
        raise StateAlreadyExists(
            f"The /state of shard {shard} was created by someone else after we read the "
            "shard; nothing was written.",
            "Look at it with `migrator state` and `migrator status` before doing anything "
            "else: another operator or tool is migrating this shard.",
        )
    if error is not None:
        raise error
    return WriteResult(paths.state_path(shard), str(results[0]), 0)


def replace_state(
    client: KazooClient, shard: str, state: ClusterState, expected_version: int, what: str
) -> WriteResult:
    """Freeze/unfreeze: set /state at the version read, with its history record."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import BadVersionError, NoNodeError

    data = state.to_bytes()
    note_ours(client, shard, data)
    results = _commit(
        client,
        lambda t: (
            t.create(paths.admin_history_prefix(shard), data, sequence=True),
            t.set_data(paths.state_path(shard), data, version=expected_version),
        ),
    )
    error = _first_error(results)
    if isinstance(error, BadVersionError | NoNodeError):
        raise _changed_under_us(client, shard, expected_version, what) from error
    if error is not None:
        raise error
    return WriteResult(paths.state_path(shard), str(results[0]), int(results[1].version))


def delete_state(client: KazooClient, shard: str, expected_version: int) -> WriteResult:
    """Rollback: delete /state only if it is still the version we read."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import BadVersionError, NoNodeError

    note_ours(client, shard, None)
    results = _commit(
        client, lambda t: t.delete(paths.state_path(shard), version=expected_version)
    )
    error = _first_error(results)
    if isinstance(error, BadVersionError | NoNodeError):
        raise _changed_under_us(client, shard, expected_version, "delete") from error
    if error is not None:
        raise error
    return WriteResult(paths.state_path(shard), None, None)


def _changed_under_us(
    client: KazooClient, shard: str, expected_version: int, what: str
) -> StateConflict:
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    try:
        _, stat = client.get(paths.state_path(shard))
        now = f"it is now at version {stat.version}"
    except NoNodeError:
        now = "it has been deleted"
    return StateConflict(
        f"The /state of shard {shard} changed after we read it (we read version "
        f"{expected_version}; {now}), so the {what} was not written.",
        "A peer or another operator changed the cluster; run `migrator status` to see the "
        "new state and decide again.",
    )


def send_path(client: KazooClient, path: str) -> list[Any]:
    """``path`` and every ancestor of it, asked to be created, without waiting.

    kazoo's ``ensure_path`` asks level by level (an exists, then a create for each
    missing level: seven round trips for a fresh ``/manatee-migrator/<shard>/lock``).
    Here a create of every level is sent at once: ZooKeeper applies a session's
    requests in the order sent, so each finds its parent, and a request sent after them
    in this session finds the path made. ``settle_path`` collects their replies.
    """
    parts = [part for part in path.split("/") if part]
    return [client.create_async("/" + "/".join(parts[:depth]))
            for depth in range(1, len(parts) + 1)]


def settle_path(pending: list[Any]) -> None:
    """The replies of ``send_path``'s creates: what failed other than NodeExists is
    raised (the first such, in the path's order)."""
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NodeExistsError

    for result in pending:
        try:
            result.get()
        except NodeExistsError:
            continue
