"""Parse a YAML document once into both its node tree (for line numbers in
errors) and its Python data, with libyaml's C parser when PyYAML has it.

The C parser is an order of magnitude faster than the pure-Python one, and
`migrator plan` reads every playbook to show the alternatives; the pure-Python
parser is the fallback where PyYAML was built without libyaml.

Aliases are allowed (an operator may share zone settings with ``&anchor`` and
``<<: *anchor``), but a document is refused before it is constructed when
following its aliases would add more than ``MAX_EXPANDED_NODES`` nodes to it, or
when an alias refers to a node that contains it. Everything after parsing
(duplicate-key checks, validation) walks the expanded tree, so a ten-line
"billion laughs" document would otherwise hang every command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# An inventory of 500 zones expands to about 5,000 nodes; playbooks to fewer.
MAX_EXPANDED_NODES = 100_000
# Inventories and playbooks nest about six levels; everything that walks the tree
# afterwards recurses, so deeper documents are refused here (libyaml allows 1,000).
MAX_DEPTH = 64


class AliasExpansionError(yaml.MarkedYAMLError):
    """The document's aliases expand too far, or into themselves."""


def _expansion_error(node: yaml.Node, problem: str) -> AliasExpansionError:
    return AliasExpansionError(problem=problem, problem_mark=node.start_mark)


def check_expansion(root: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """Nodes visited when every alias is followed; raises MarkedYAMLError when following
    the aliases adds more than ``limit`` nodes to the document's own.

    Only what aliases add is counted against ``limit`` (issue 21 §5): a node reached
    again through an alias (``*name``, ``<<: *name``) is the same node object as its
    anchor, so the nodes an alias adds are the expanded size of what it refers to.
    A long document without aliases (a 10,000-step playbook) is bounded by the input's
    byte limit and by its loader (``migrator.playbook.loader.MAX_STEPS``), never called
    an alias bomb. Each distinct node is sized once (memoised by identity), so the
    check costs time linear in the document however deep the aliases nest.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    added = 0  # nodes visited only because an alias was followed

    def size(node: yaml.Node, depth: int) -> int:
        nonlocal added
        if depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(
                problem=f"the document nests deeper than {MAX_DEPTH} levels",
                problem_mark=node.start_mark,
            )
        key = id(node)
        known = sizes.get(key)
        if known is not None:  # seen before: this visit is through an alias
            added += known
            if added > limit:
                raise _expansion_error(
                    node,
                    f"following its aliases adds more than {limit} nodes to this document "
                    "(an alias bomb?); write the values out or use fewer nested aliases",
                )
            return known
        if key in active:
            raise _expansion_error(node, "an alias refers to a node that contains it")
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(node, yaml.ScalarNode) and not node.value.isascii():
            try:
                node.value.encode("utf-8")
            except UnicodeEncodeError:  # a "\ud800" escape: nothing could send or print it
                raise yaml.MarkedYAMLError(problem="a string holds a lone surrogate escape, "
                                           "which is not text",
                                           problem_mark=node.start_mark) from None
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
        active.discard(key)
        sizes[key] = total
        return total

    return size(root, 0)


def parse_document(
    text: str, precheck: Callable[[yaml.Node], None] | None = None,
) -> tuple[yaml.Node | None, Any]:
    """(root node or None for an empty document, constructed data); raises YAMLError.

    ``precheck``, given the composed root before the alias check and before anything
    is constructed, lets a loader refuse a document by its shape first (a playbook
    with too many steps) with its own error."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            if precheck is not None:
                precheck(root)
            check_expansion(root)
        data = None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()
    return root, data
