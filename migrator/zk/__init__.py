"""The only package that talks to kazoo.

Guarantees, per function: reads return immutable snapshots; every write is
conditional (create-if-absent, or set/delete at the version read) and is one
multi-op transaction together with its history record where manatee writes
one, so a concurrent change makes the write fail as a whole (``StateConflict``)
instead of clobbering.
"""
