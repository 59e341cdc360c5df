"""Fleets: many shards migrated from one command, each by the single-shard engine.

A fleet file (``fleet.yaml``, ``migrator.fleet.model``) names the shards and the
inventory of each. Every shard keeps its own journal and lock, so `migrator resume
--inventory` of one shard works whatever the fleet commands did.
"""
