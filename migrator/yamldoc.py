"""Parse a YAML document once into both its node tree (for line numbers in
errors) and its Python data, with libyaml's C parser when PyYAML has it.

The pure-Python parser costs about 60 ms per playbook here; the C one a few
milliseconds, which keeps `migrator plan` (it reads every playbook to show the
alternatives) quick.
"""

from __future__ import annotations

from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_document(text: str) -> tuple[yaml.Node | None, Any]:
    """(root node or None for an empty document, constructed data); raises YAMLError."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()
    return root, data
