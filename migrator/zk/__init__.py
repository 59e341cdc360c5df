"""The ZooKeeper layer for manatee's own znodes (``/manatee/<shard>/...``).

Guarantees, per function: reads return immutable snapshots; every write is
conditional (create-if-absent, or set/delete at the version read) and is one
multi-op transaction together with its history record where manatee writes
one, so a concurrent change makes the write fail as a whole (``StateConflict``)
instead of clobbering.

The migrator's own znodes under ``/manatee-migrator/<shard>`` (the run journal
and the run lock) are kept by ``migrator.engine.journal_store`` and
``migrator.engine.lock``: they persist engine types, and keeping them beside the
engine avoids this lower layer depending on it. They follow the same rules
(versioned writes, typed conflicts).
"""
