"""The zlogin route's text (pure): a zone command wrapped for the node's shell, log paths.

A zone reached through its compute node runs ``<zlogin> <zone> <command>`` in
the node's global zone. Two shells parse it: the node's (its SSH session) and
the zone's (zlogin joins its arguments with spaces, as ssh does, and hands the
line to the zone's shell). So the zone command, already shell text for the
zone (every argument quoted), is quoted once more as a whole for the node's
shell; the zone name too. Nothing else is added: the node's shell sees exactly
three words after the zlogin prefix's own.

From the global zone a zone's files are under ``<zones_root>/<zone>/root``;
the sitter's log, whose path the zone (or ``svcs -z <zone> -L``) names as the
zone sees it, is read there with no zlogin per read.
"""

from __future__ import annotations

import posixpath
import shlex

from migrator.errors import BadInput


def zlogin_command(prefix: str, zone: str, command: str) -> str:
    """``<prefix> '<zone>' '<command>'`` for the node's shell (``prefix`` is trusted text)."""
    if not command:
        raise ValueError("empty command")
    return f"{prefix} {shlex.quote(zone)} {shlex.quote(command)}"


def zone_root(zones_root: str, zone: str) -> str:
    return posixpath.join(zones_root, zone, "root")


def node_log_path(zones_root: str, zone: str, path: str) -> str:
    """Where the global zone sees the zone's file ``path``.

    ``path`` is the zone's own view (``/var/svc/log/...``); a path that is
    already under the zone's root (some tools print the global zone's view)
    is kept as it is. A relative path, or one that climbs out with ``..``, is
    refused: it would name a file outside the zone.
    """
    root = zone_root(zones_root, zone)
    if not path.startswith("/") or "\x00" in path or "\n" in path:
        raise BadInput(
            f"{path!r} is not an absolute path in zone {zone}.",
            "Fix the zone's `sitter_log` or `commands.node_sitter_log` in the inventory.",
        )
    if ".." in path.split("/"):
        raise BadInput(
            f"The log path {path!r} of zone {zone} contains '..'.",
            "Give the log's real path (`sitter_log:` for the zone) in the inventory.",
        )
    if path == root or path.startswith(root + "/"):
        return path
    return root + path
