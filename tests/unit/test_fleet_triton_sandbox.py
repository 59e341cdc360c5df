"""The sandbox's Triton shard (`sandbox up --triton-shard`), its pure parts: `--nodes`
with the sdc shard, the Moray zones' addresses, and what the headnode's VMAPI says of
Triton's zones."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.errors import BadInput
from migrator.sandbox.config import (
    IMAGES,
    MAX_NODES,
    MAX_SHARDS,
    MORAY_IMAGE,
    TRITON_IMAGES,
    SandboxConfig,
    ZoneConfig,
    version_of_image,
    zone_address,
)
from migrator.sandbox.fleetlayout import fleet_sizes, moray_address
from migrator.sandbox.headnode_records import member_vms

pytestmark = pytest.mark.unit

U = [f"2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a{n:02d}" for n in range(10)]


def test_nodes_with_the_triton_shard() -> None:
    assert fleet_sizes("3", 2, True) == ([3, 3], 3)
    assert fleet_sizes("3,2,1", 2, True) == ([3, 2], 1)
    assert fleet_sizes("1", 0, True) == ([], 1)  # Triton's shard alone
    assert fleet_sizes("3,2", 2, False) == ([3, 2], None)


@pytest.mark.parametrize(("text", "shards", "said"), [
    ("3,2", 2, "lists 2 shard sizes"),  # K sizes: the sdc shard's is missing
    ("3,9", 1, "out of range"),
    ("3", -1, "out of range"),
    ("3", MAX_SHARDS + 1, "out of range"),
    ("x", 1, "not a shard size"),
])
def test_bad_nodes_with_the_triton_shard_are_refused(text: str, shards: int,
                                                     said: str) -> None:
    with pytest.raises(BadInput, match=said):
        fleet_sizes(text, shards, True)


@given(st.integers(0, MAX_SHARDS), st.integers(1, MAX_NODES))
def test_moray_addresses_never_meet_a_zone(shards: int, size: int) -> None:
    zones = {zone_address(k, s) for s in range(shards + 1) for k in range(size)}
    morays = {moray_address(k, shards) for k in range(2)}
    assert not zones & morays
    assert all(a.startswith("127.0.0.") and int(a.rsplit(".", 1)[1]) < 255 for a in morays)


def member(triton: bool) -> SandboxConfig:
    zones = [ZoneConfig(U[0], "127.0.0.12", 5432, 0, "v1", "cn0"),
             ZoneConfig(U[1], "127.0.0.13", 5432, 0, "v2", "cn1")]
    morays = [ZoneConfig(U[2], "127.0.0.17", 0, 0, "v2", "cn0")] if triton else []
    return SandboxConfig(Path("/nonexistent"), 2181, zones,
                         shard="sdc" if triton else "1.moray.sandbox.test",
                         fleet_root="/nonexistent", triton=triton, morays=morays)


def test_tritons_zones_are_tagged_and_on_its_images() -> None:
    vms = {vm["uuid"]: vm for vm in member_vms(member(True))}
    assert vms[U[0]]["alias"] == "manatee0" and vms[U[1]]["alias"] == "manatee1"
    assert vms[U[0]]["tags"] == {"smartdc_role": "manatee"}
    assert (vms[U[0]]["image_uuid"], vms[U[1]]["image_uuid"]) == (TRITON_IMAGES["v1"],
                                                                  TRITON_IMAGES["v2"])
    assert vms[U[2]]["tags"] == {"smartdc_role": "moray"} and vms[U[2]]["alias"] == "moray0"
    assert vms[U[2]]["image_uuid"] == MORAY_IMAGE and vms[U[2]]["state"] == "running"


def test_mantas_zones_stay_mantas() -> None:
    vms = member_vms(member(False))
    assert [vm["tags"] for vm in vms] == [{"manta_role": "postgres"}] * 2
    assert [vm["image_uuid"] for vm in vms] == [IMAGES["v1"], IMAGES["v2"]]


def test_either_image_names_its_version() -> None:
    for version in ("v1", "v2"):
        assert version_of_image(TRITON_IMAGES[version]) == version
        assert version_of_image(IMAGES[version]) == version
    assert version_of_image(MORAY_IMAGE) is None
