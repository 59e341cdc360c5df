"""The inventory: which shard, which ZooKeeper, which zones and how to reach them.

``model`` (the validated records), ``values`` (the values they hold and the command
templates), ``load`` (reading a file). The format: docs/inventory.md.
"""
