"""ZooKeeper paths of a manatee shard (lib/zookeeperMgr.js, lib/adm.js)."""

from __future__ import annotations

import re

from migrator.errors import BadInput

MANATEE_ROOT = "/manatee"
_SHARD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*\Z")


def is_shard_name(shard: str) -> bool:
    return bool(_SHARD_RE.fullmatch(shard)) and shard not in (".", "..")


def check_shard_name(shard: str) -> str:
    if not is_shard_name(shard):
        raise BadInput(
            f"{shard!r} is not a valid shard name.",
            "Shard names are znode names under /manatee such as 1.moray.example.com; "
            "run `migrator status` to list them.",
        )
    return shard


def shard_path(shard: str) -> str:
    return f"{MANATEE_ROOT}/{check_shard_name(shard)}"


def election_path(shard: str) -> str:
    return f"{shard_path(shard)}/election"


def state_path(shard: str) -> str:
    return f"{shard_path(shard)}/state"


def history_path(shard: str) -> str:
    return f"{shard_path(shard)}/history"


def error_path(shard: str) -> str:
    return f"{shard_path(shard)}/error"


def admin_history_prefix(shard: str) -> str:
    """manatee-adm writes ``0-`` whatever the generation; peers write ``<gen>-``."""
    return f"{history_path(shard)}/0-"
