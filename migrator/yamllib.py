"""PyYAML, imported without compiling patterns that its C loader never uses.

See ``migrator.deferred``: PyYAML compiles its pure-Python reader's Unicode
pattern (about 5 ms) and its scalar resolvers' patterns at import; here they
are compiled at first use, which with libyaml's loader is never for the reader.

Every runtime use of PyYAML in the migrator imports it from this module
(``from migrator.yamllib import yaml``) so that this import comes first.
"""

from __future__ import annotations

import sys

from migrator.deferred import deferred_patterns


def _import_yaml() -> None:
    if "yaml" not in sys.modules:
        with deferred_patterns("yaml"):
            import yaml  # noqa: F401


_import_yaml()

import yaml as yaml  # noqa: E402  (after the import above, on purpose)
