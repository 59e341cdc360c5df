"""A fleet sandbox's layout, decided before anything starts (pure: no I/O).

`sandbox up --shards K --nodes N|N1,N2,...` gives K shards named 1.moray.sandbox.test
upwards; ``--nodes`` is one size for every shard or a comma list of K sizes (each 1 to
MAX_NODES). Zone k of shard s sits at ``zone_address(k, s)`` (config.py says the
scheme); zones are spread in turn over the shared compute nodes across the whole
fleet (shard 1's zones first, then shard 2's...), so a node hosts zones of several
shards, as a Manta compute node does.
"""

from __future__ import annotations

from migrator.errors import BadInput
from migrator.sandbox.config import MAX_NODES, MAX_SHARDS, shard_name, zone_address


def check_shards(shards: int) -> None:
    if not 1 <= shards <= MAX_SHARDS:
        raise BadInput(
            f"--shards {shards} is out of range: a sandbox fleet has 1 to {MAX_SHARDS} shards.",
            f"Pass --shards 1 to {MAX_SHARDS} (1, the default, is a one-shard sandbox).")


def parse_node_sizes(text: str, shards: int) -> list[int]:
    """``--nodes``: one size for every shard ("3") or one per shard ("3,3,2,1")."""
    check_shards(shards)
    try:
        sizes = [int(word) for word in text.split(",")]
    except ValueError:
        raise BadInput(
            f"--nodes {text!r} is not a shard size or a comma list of sizes.",
            f"Give one size, 1 to {MAX_NODES} (e.g. --nodes 3), or one per shard "
            "(e.g. --nodes 3,3,2 with --shards 3).") from None
    if len(sizes) == 1:
        sizes = sizes * shards
    elif len(sizes) != shards:
        raise BadInput(
            f"--nodes {text} lists {len(sizes)} shard sizes but --shards is {shards}.",
            f"Give one size for every shard (e.g. --nodes 3) or exactly {shards} sizes, "
            "one per shard in order.")
    for size in sizes:
        if not 1 <= size <= MAX_NODES:
            raise BadInput(
                f"--nodes {text} is out of range: a sandbox shard has 1 to {MAX_NODES} "
                "nodes.",
                "Pass --nodes 1, 2, 3, 4 or 5 (3 is the runbook's shard), or one such size "
                "per shard with --shards (e.g. --nodes 3,3,2).")
    return sizes


def shard_names(shards: int) -> list[str]:
    return [shard_name(index) for index in range(shards)]


def shard_addresses(sizes: list[int]) -> list[list[str]]:
    """Each shard's zone addresses, in zone order."""
    return [[zone_address(k, s) for k in range(size)] for s, size in enumerate(sizes)]


def node_assignment(sizes: list[int], node_count: int) -> list[list[int]]:
    """Each shard's zones' compute node (an index into the nodes), in turn over the
    whole fleet."""
    assignment, counter = [], 0
    for size in sizes:
        assignment.append([(counter + k) % node_count for k in range(size)])
        counter += size
    return assignment


def fleet_sizes(text: str, shards: int, triton: bool) -> tuple[list[int], int | None]:
    """``--nodes`` for K Manta shards and, with ``triton``, Triton's: (the Manta shards'
    sizes, the sdc shard's size or None)."""
    if not triton:
        return parse_node_sizes(text, shards), None
    if not 0 <= shards <= MAX_SHARDS:
        raise BadInput(
            f"--shards {shards} is out of range: with --triton-shard a sandbox fleet has 0 "
            f"to {MAX_SHARDS} Manta shards.",
            f"Pass --shards 0 (Triton's shard alone) to {MAX_SHARDS}.")
    words = text.split(",")
    if len(words) == 1:
        size = parse_node_sizes(text, 1)[0]
        return [size] * shards, size
    if len(words) != shards + 1:
        raise BadInput(
            f"--nodes {text} lists {len(words)} shard sizes but --shards {shards} with "
            f"--triton-shard has {shards + 1} shards.",
            f"Give one size for every shard or exactly {shards + 1} sizes, the last the "
            "sdc shard's.")
    sizes = [parse_node_sizes(word, 1)[0] for word in words]
    return sizes[:-1], sizes[-1]


def moray_address(index: int, shard_index: int) -> str:
    """Moray zone ``index`` (below SHARD_ADDRESS_STRIDE - MAX_NODES) of shard
    ``shard_index``: in the shard's block of addresses, after its zones'."""
    return zone_address(MAX_NODES + index, shard_index)
