"""Work that third-party imports do eagerly, deferred to its first use.

Two libraries on every command's start-up path pay at import for things the
migrator rarely or never uses (measured with ``python -X importtime``; see the
README's benchmarks for what start-up costs in total):

* kazoo imports ``ssl`` (about 5 ms with ``_ssl`` and its enums) for TLS
  connections to ZooKeeper, which manatee does not use; it only touches the
  module when a TLS connection is made or a TLS error is caught. Its recipes
  import ``uuid`` (about 3.5 ms with ``platform``) for node names, used only
  when a lock or the like is made. ``deferred_module(name)`` puts a stand-in
  in ``sys.modules`` that imports the real module on first attribute use and
  forwards to it.
* PyYAML compiles, at import, regular expressions for its pure-Python reader
  (a Unicode class costing about 5 ms) and for resolving and constructing
  scalars; with libyaml's C parser the reader's is never used, and the others
  only when a document has such a scalar. ``deferred_patterns()`` makes the
  ``re.compile`` calls made inside it return patterns compiled on first use.

Both are invisible to the library: a stand-in answers every attribute as the
real object does, and each is replaced by (or holds) the real one from its
first use on.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _DeferredModule(types.ModuleType):
    """Stands in for a module not imported yet; the first attribute asked imports it."""

    def __getattr__(self, attribute: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]  # from now on importers get the real module
        return getattr(importlib.import_module(self.__name__), attribute)


def deferred_module(name: str) -> None:
    """Let ``import name`` succeed now and load the module at its first real use
    (nothing changes when it is imported already)."""
    if name not in sys.modules:
        sys.modules[name] = _DeferredModule(name)


class _DeferredPattern:
    """A compiled pattern, compiled when first used (a race compiles it twice: harmless)."""

    __slots__ = ("_arguments", "_compiled")

    def __init__(self, pattern: Any, flags: Any) -> None:
        self._arguments = (pattern, flags)
        self._compiled: re.Pattern[Any] | None = None

    def __getattr__(self, attribute: str) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = _compile(*self._arguments)
        return getattr(compiled, attribute)


_compile = re.compile


@contextmanager
def deferred_patterns(package: str) -> Iterator[None]:
    """Inside the block (an import), ``re.compile`` called from the modules of
    ``package`` returns patterns compiled on first use; other callers (a module
    the package imports, another thread) get compiled ones as usual."""
    prefix = package + "."

    def compile_later(pattern: Any, flags: Any = 0) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == package or caller.startswith(prefix):
            return _DeferredPattern(pattern, flags)
        return _compile(pattern, flags)

    re.compile = compile_later
    try:
        yield
    finally:
        re.compile = _compile
