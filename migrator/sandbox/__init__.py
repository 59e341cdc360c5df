"""A local manatee shard for rehearsals, demos and tests (loopback only)."""
