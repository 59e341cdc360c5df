"""The error a zone's ``manatee-adm`` reports as upstream's does: ``error: MESSAGE`` on
stderr, exit status 1.

A module of its own so that the light entry (``adm``: usage, ``version``,
``pg-position``) and the ZooKeeper commands (``admzk``) share it without the entry
importing the ZooKeeper side.
"""

from __future__ import annotations


class AdmError(Exception):
    pass
