"""The journal's znode: where it lives and how its text is read.

``/manatee-migrator/<shard>/journal`` (the root can be given; the run lock is beside it,
``migrator.engine.lock``), and the one parser for its JSON (strict, nesting bounded).
Its own small module so that a reader that only looks (``migrator status``, its
``--watch``) does not import the journal's model and store, the run's side.
"""

from __future__ import annotations

from typing import Any

from migrator.strictjson import MAX_DEPTH, loads
from migrator.zk import paths

JOURNAL_ROOT = "/manatee-migrator"
# Twice strictjson's bound: a journal wraps documents that were themselves read with
# that bound (a sitter's log record, a state and its diff) in a few levels of its own,
# so a journal this tool wrote never comes near it, while 3,000 nested lists are refused.
JOURNAL_MAX_DEPTH = 2 * MAX_DEPTH


def journal_root(shard: str, root: str = JOURNAL_ROOT) -> str:
    return f"{root}/{paths.check_shard_name(shard)}"


def journal_path(shard: str, root: str = JOURNAL_ROOT) -> str:
    return f"{journal_root(shard, root)}/journal"


def journal_document(data: bytes | str) -> Any:
    """A journal's JSON text parsed as every journal reader must: strict and bounded.

    The one parser for the journal wherever it is read: the store (run, resume,
    rollback), ``status`` and ``report`` (ZooKeeper, an archive or an audit copy).
    ``json.loads`` would raise ``RecursionError`` on a journal of 3,000 nested lists,
    an internal error; this raises ``strictjson.JsonRejected`` (a ``ValueError``)
    instead, nesting beyond ``JOURNAL_MAX_DEPTH`` included, and each caller turns it
    into its typed error naming the journal's znode or file. No byte bound here: a
    znode is bounded by ZooKeeper, an operator's file by the caller's reader.
    """
    return loads(data, max_depth=JOURNAL_MAX_DEPTH)
