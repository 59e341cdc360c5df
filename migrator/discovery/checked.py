"""The text of a discovered inventory, checked before anything is written.

`migrator inventory discover` and `migrator fleet discover` write the same file:
what would be written must validate as an inventory and load back to the very
values discovered (the file is only data).
"""

from __future__ import annotations

import yaml

from migrator.discovery.build import Discovered
from migrator.discovery.written import inventory_text
from migrator.errors import StepFailed
from migrator.inventory.model import Inventory
from migrator.record import RecordError


def checked_inventory_text(origin: str, shard: str, found: Discovered) -> str:
    """The inventory file's text; ``StepFailed`` (a discovery bug) when it would not load."""
    try:
        Inventory.validate(found.document)
    except RecordError as exc:
        raise StepFailed(f"The discovered inventory of shard {shard} does not validate "
                         f"({exc}); nothing was written.", "This is a bug in discovery; "
                         "report it with the headnode's answers.") from None
    text = inventory_text(origin, shard, [(s.field, s.value, s.source) for s in found.sources],
                          found.document)
    if yaml.safe_load(text) != found.document:
        raise StepFailed(f"The inventory text of shard {shard} would not load back to the "
                         "discovered values; nothing was written.", "This is a bug in "
                         "discovery; report it with the headnode's answers.")
    return text
