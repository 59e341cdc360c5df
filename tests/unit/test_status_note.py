"""What `migrator status` says when election order and /state disagree."""

from __future__ import annotations

import pytest

from migrator.cli.shardview import disagreement_note
from migrator.cluster.shard import PeerRow

pytestmark = pytest.mark.unit


def row(election: str | None, state: str | None) -> PeerRow:
    return PeerRow("10.0.0.1:5432:12345", "z", election, 0, state)


def test_agreement_and_legacy_say_nothing() -> None:
    assert disagreement_note("migrated", [row("primary", "primary")]) is None
    assert disagreement_note("legacy", [row("primary", None)]) is None


def test_backfilled_window_is_expected() -> None:
    note = disagreement_note("backfilled-frozen", [row("sync", "async"), row("async", "sync")])
    assert note is not None and "as expected" in note


def test_a_migrated_shard_with_another_election_primary_warns_about_old_morays() -> None:
    note = disagreement_note("migrated", [row("primary", "sync"), row("sync", "primary")])
    assert note is not None and "wrong peer" in note


def test_a_migrated_shard_with_only_standby_differences_is_informational() -> None:
    note = disagreement_note("migrated", [row("async", "deposed")])
    assert note is not None and "only matters" in note
