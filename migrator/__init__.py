"""manatee-migrator: migrate a Manatee shard from election-order topology to /state."""

__version__ = "0.1.0"
