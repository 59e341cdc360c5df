"""The text of a discovered inventory: YAML from data, provenance as inert comments.

Every value in the file came from outside (the headnode's APIs, ZooKeeper, the
operator's HEADNODE.yaml), and any of them may hold a line break, a ``#`` or a
YAML indicator. The document itself is dumped by the YAML library, which quotes
what needs quoting. The "where each value came from" comments are text, so each
field, value and source in them is written as a JSON string literal: control
characters, line breaks (``\\n``, ``\\r``, and the ``\\x85``, ``\\u2028`` and
``\\u2029`` that YAML 1.1 also ends lines at) and every other non-ASCII
character are escaped, so a comment line can never end early and let the rest
of a value be read as YAML.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml


def inert(text: str) -> str:
    """``text`` as a one-line, ASCII-only JSON string literal."""
    return json.dumps(text, ensure_ascii=True)


def inventory_text(origin: str, shard: str, sources: Iterable[tuple[str, str, str]],
                   document: dict[str, Any]) -> str:
    """The file `inventory discover` writes: a comment header naming ``origin`` (the
    HEADNODE.yaml) and ``shard``, one comment line per (field, value, source), then
    the document."""
    header = [f"# Written by `migrator inventory discover` from {inert(origin)} "
              f"for shard {inert(shard)}.",
              "# Where each value came from (field: value <- source, as JSON strings):"]
    header += [f"#   {inert(field)}: {inert(value)} <- {inert(source)}"
               for field, value, source in sources]
    return "\n".join(header) + "\n" + yaml.safe_dump(document, sort_keys=False)
