"""Playbook schema and loader: errors name file, line, step and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrator.errors import BadInput
from migrator.playbook import catalog
from migrator.playbook.loader import PlaybookError, load_playbook_file, load_playbook_text
from tests.engine.helpers import ZK_ONLY_PLAYBOOK

pytestmark = pytest.mark.unit

REMOTE_NAMES = {"log_record", "replication_synced", "zone_version", "reprovision", "run_command"}


def _error(text: str) -> str:
    with pytest.raises(PlaybookError) as info:
        load_playbook_text(text.encode(), "book.yaml")
    assert info.value.exit_status == 2
    return info.value.message


def test_valid_playbook_loads_with_digest() -> None:
    loaded = load_playbook_text(ZK_ONLY_PLAYBOOK.encode(), "zk-only.yaml")
    assert [s.id for s in loaded.playbook.steps] == ["backfill", "unfreeze"]
    assert loaded.digest.startswith("sha256:")
    # done_when defaults to verify when absent, and is used when given
    assert [c.check for c in loaded.playbook.step("backfill").done_checks] == [
        "history_has_backfill"]


@pytest.mark.parametrize("name", ["three-node", "three-node-frozen-primary", "two-node",
                                  "one-node"])
def test_builtin_playbooks_pass_the_schema(name: str) -> None:
    loaded = load_playbook_file(catalog.playbooks_dir() / f"{name}.yaml", check_registry=False)
    assert loaded.name == name
    assert all(step.explain.strip() for step in loaded.playbook.steps)


@pytest.mark.parametrize("name", ["three-node", "three-node-frozen-primary", "two-node",
                                  "one-node"])
def test_builtin_playbooks_name_only_registered_or_remote_steps(name: str) -> None:
    """Against the full registry they validate; without the remote area, the only
    unknown names are the remote ones (registered by migrator.steps.remote)."""
    from migrator.stepkit.registry import actions, checks

    try:
        load_playbook_file(catalog.playbooks_dir() / f"{name}.yaml")
    except PlaybookError as exc:
        unknown = set(re.findall(r"unknown (?:check|action) '([a-z_]+)'", exc.message))
        assert unknown, exc.message
        assert unknown <= REMOTE_NAMES, exc.message
        assert not unknown & (set(checks()) | set(actions()))


def test_yaml_syntax_error_names_the_line() -> None:
    message = _error("name: x\ntitle: [unclosed\nsteps: []\n")
    assert message.startswith("book.yaml, line ")
    assert "not valid YAML" in message


def test_unknown_field_names_file_line_step_and_field() -> None:
    text = ZK_ONLY_PLAYBOOK.replace("    timeout: 5\n  - id: unfreeze",
                                    "    timout: 5\n  - id: unfreeze")
    message = _error(text)
    line = text.splitlines().index("    timout: 5") + 1
    assert f"book.yaml, line {line}, step 'backfill', field timout" in message


def test_wrong_type_points_at_the_value_line() -> None:
    text = ZK_ONLY_PLAYBOOK.replace("peers: 3", "peers: three")
    assert "book.yaml, line 4, field peers" in _error(text)


def test_unknown_check_is_named_with_its_line() -> None:
    text = ZK_ONLY_PLAYBOOK.replace("      - check: shard_frozen", "      - check: shard_frozn")
    message = _error(text)
    line = text.splitlines().index("      - check: shard_frozn") + 1
    assert (f"line {line}, step 'unfreeze', field preconditions[0].check: unknown check "
            "'shard_frozn'") in message


def test_unknown_action_is_named() -> None:
    text = ZK_ONLY_PLAYBOOK.replace("action: {name: unfreeze}", "action: {name: thaw}")
    assert "step 'unfreeze', field action.name: unknown action 'thaw'" in _error(text)


def test_bad_check_params_are_located() -> None:
    text = ZK_ONLY_PLAYBOOK.replace(
        "      - check: shard_unfrozen\n    done_when",
        "      - check: generation_at_least\n        params: {generation: -1}\n    done_when",
    )
    message = _error(text)
    assert "step 'unfreeze', field verify[0].params.generation" in message
    assert "greater than or equal to 0" in message


def test_role_missing_from_a_smaller_shard_is_refused() -> None:
    text = ZK_ONLY_PLAYBOOK.replace("peers: 3", "peers: 2")
    message = _error(text)
    assert "step 'backfill' names original_async, but a 2-node shard has only" in message


def test_outage_step_must_ask_for_the_typed_shard_name() -> None:
    text = ZK_ONLY_PLAYBOOK.replace('    action: {name: unfreeze}\n    confirm: "yes"',
                                    '    action: {name: unfreeze}\n    confirm: "yes"\n'
                                    '    outage: true')
    assert "outage must use confirm: typed" in _error(text)


def test_duplicate_step_ids_are_refused() -> None:
    text = ZK_ONLY_PLAYBOOK.replace("- id: unfreeze", "- id: backfill")
    assert "step id 'backfill' is used twice" in _error(text)


def test_not_a_mapping() -> None:
    assert "a playbook is a YAML mapping" in _error("- just\n- a list\n")


def test_unknown_playbook_name_lists_builtins() -> None:
    with pytest.raises(BadInput) as info:
        catalog.resolve("four-node")
    assert "three-node" in (info.value.hint or "")


def test_auto_picks_by_peer_count_and_says_so() -> None:
    loaded, why = catalog.choose("auto", 2, "s")
    assert loaded.name == "two-node"
    assert "2 peer" in why


def test_playbook_for_another_size_is_bad_input() -> None:
    with pytest.raises(BadInput) as info:
        catalog.choose("three-node", 2, "s")
    assert "3-node shard" in info.value.message and "2 peer" in info.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError) as info:
        load_playbook_file(tmp_path / "nope.yaml")
    assert "nope.yaml" in info.value.message


def test_loading_the_same_bytes_again_reuses_the_validated_playbook() -> None:
    first = load_playbook_text(ZK_ONLY_PLAYBOOK.encode(), "zk-only.yaml")
    assert load_playbook_text(ZK_ONLY_PLAYBOOK.encode(), "zk-only.yaml") is first
    # a changed file (different bytes) is validated afresh, never served from the cache
    edited = ZK_ONLY_PLAYBOOK.replace("action: {name: unfreeze}", "action: {name: thaw}")
    assert "unknown action 'thaw'" in _error(edited)
    # and a failure is reported every time, not only on the first load
    assert "unknown action 'thaw'" in _error(edited)
    # the registry flag is part of the key: an unchecked load is not reused for a checked one
    unchecked = load_playbook_text(edited.encode(), "book.yaml", check_registry=False)
    assert unchecked.playbook.step("unfreeze").action.name == "thaw"
    assert "unknown action 'thaw'" in _error(edited)


def test_alternatives_are_named_without_the_registry_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alternative is only shown; choosing it with --playbook validates it fully."""
    for name in ("three-node", "three-node-frozen-primary"):
        (tmp_path / f"{name}.yaml").write_bytes(
            (catalog.playbooks_dir() / f"{name}.yaml").read_bytes())
    text = (tmp_path / "three-node-frozen-primary.yaml").read_text()
    (tmp_path / "three-node-frozen-primary.yaml").write_text(
        text.replace("check: state_absent", "check: state_absnt", 1))
    monkeypatch.setattr(catalog, "playbooks_dir", lambda: tmp_path)
    chosen = catalog.resolve("three-node")
    assert [o.name for o in catalog.alternatives(chosen)] == ["three-node-frozen-primary"]
    with pytest.raises(PlaybookError, match="unknown check 'state_absnt'"):
        catalog.choose("three-node-frozen-primary", 3, "1.moray")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"name: x\npeers: 3\n", "3"),
        (b"peers: 2   # two zones\n", "2"),
        (b'peers: "1"\n', "1"),
        (b"peers: 3\r\n", "3"),
        (b"steps:\n  - peers: 2\n", None),  # nested: not the top-level key
        (b"# peers: 2\n", None),
        (b"peers: {n: 2}\n", None),  # not written plainly: the caller parses the file
    ],
)
def test_top_level_key_scan(text: bytes, expected: str | None) -> None:
    assert catalog._top_level(text, "peers") == expected


def test_alternatives_match_what_full_parsing_would_pick() -> None:
    everything = [catalog.resolve(name, check_registry=False)
                  for name in catalog.builtin_names()]
    for loaded in everything:
        if loaded.playbook.kind != "migration":
            continue
        expected = sorted(other.name for other in everything
                          if other.name != loaded.name
                          and other.playbook.kind == "migration"
                          and other.playbook.peers == loaded.playbook.peers)
        assert sorted(a.name for a in catalog.alternatives(loaded)) == expected
