"""paramiko, imported without the parts of its import that the migrator never uses.

Importing paramiko cost about 140 ms here, of every command that touches a
zone; about half of it went to two things the migrator does not need:

* ``paramiko.config`` imports invoke, only to run the ``Match exec`` lines of
  an ssh_config; invoke brings unittest.mock, asyncio and a vendored YAML. So
  paramiko is imported with invoke hidden, and ``enable_match_exec`` imports
  invoke for real when the operator's ssh_config has a ``Match exec`` line.
* paramiko's ``__init__`` asks ``importlib.metadata`` for its own version (for
  the SSH banner); importing that module and scanning every installed
  distribution costs about 30 ms. While paramiko is imported, a stand-in
  answers ``version()`` from the package's own ``*.dist-info/METADATA`` and
  hands anything else (or a version it cannot find that way) to the real
  module, so paramiko sees the same answer either way.

Every runtime use of paramiko in the migrator imports it from this module
(``from migrator.remote.sshlib import paramiko``) so that this import comes first.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

_MATCH_EXEC = re.compile(r"^\s*match\s.*\bexec\b", re.IGNORECASE | re.MULTILINE)
_VERSION_LINE = re.compile(r"^Version:[ \t]*(\S+)[ \t]*$", re.MULTILINE)


class _VersionOnlyMetadata(types.ModuleType):
    """Stands in for ``importlib.metadata`` during paramiko's import (see the module)."""

    def __init__(self) -> None:
        super().__init__("importlib.metadata")

    def version(self, name: str) -> str:
        found = _installed_version(name)
        return found if found is not None else str(self._real().version(name))

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._real(), attribute)

    def _real(self) -> Any:
        if sys.modules.get("importlib.metadata") is self:
            del sys.modules["importlib.metadata"]
        import importlib.metadata

        return importlib.metadata


def _installed_version(name: str) -> str | None:
    """The version in ``<site>/<name>-<version>.dist-info/METADATA`` beside the package."""
    module = sys.modules.get(name)
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    if not origin:
        return None
    found = list(Path(origin).parent.parent.glob(f"{name}-*.dist-info/METADATA"))
    if len(found) != 1:
        return None
    try:
        match = _VERSION_LINE.search(found[0].read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def _import_paramiko() -> None:
    if "paramiko" in sys.modules:
        return
    hidden: dict[str, Any] = {}
    if "invoke" not in sys.modules:
        hidden["invoke"] = None  # makes `import invoke` fail
    if "importlib.metadata" not in sys.modules:
        hidden["importlib.metadata"] = _VersionOnlyMetadata()
    sys.modules.update(hidden)
    try:
        import paramiko  # noqa: F401
    finally:
        for name, stand_in in hidden.items():
            if sys.modules.get(name, False) is stand_in:
                del sys.modules[name]


_import_paramiko()

import paramiko as paramiko  # noqa: E402  (after the import above, on purpose)


def needs_match_exec(ssh_config_text: str) -> bool:
    """Whether an ssh_config has a ``Match ... exec`` criterion."""
    return _MATCH_EXEC.search(ssh_config_text) is not None


def enable_match_exec() -> None:
    """Give paramiko the invoke it needs to run ``Match exec`` commands."""
    import invoke
    import paramiko.config

    paramiko.config.invoke = invoke  # type: ignore[attr-defined]


def close_channel(channel: Any) -> None:
    """Close a channel whatever became of its transport.

    paramiko sends the close over the transport, and on one that has died it raises
    EOFError (or OSError): that would replace the error that says the connection
    dropped, and click would report the EOFError as an interrupt. A channel on a dead
    transport is closed already in every sense that matters.
    """
    import contextlib

    with contextlib.suppress(paramiko.SSHException, OSError, EOFError):
        channel.close()
