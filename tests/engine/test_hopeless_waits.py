"""A verification that cannot succeed stops early, on the real sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.sandbox.config import SandboxConfig
from tests.engine.sandbox_helpers import migrator

pytestmark = pytest.mark.sandbox

HOPELESS = """\
name: hopeless
title: A wait that cannot succeed
description: Disable the async's sitter, then wait for a record only it could log.
peers: 3
steps:
  - id: stop-async
    title: Stop the async's sitter
    explain: Its sitter is disabled by the action; the verification cannot succeed.
    zones: [original_async]
    action:
      name: run_command
      params: {zone: original_async, command: sitter_disable}
    confirm: "yes"
    verify:
      - check: log_record
        params: {zone: original_async, msg: "never logged"}
        why: a record the stopped sitter cannot write
    done_when: []
    timeout: 120
"""


def test_wait_on_a_zone_whose_sitter_is_stopped_ends_early_saying_what_it_saw(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path,
) -> None:
    config = sandbox(nodes=3)
    book = tmp_path / "hopeless.yaml"
    book.write_text(HOPELESS)
    started = time.monotonic()
    done = migrator(config, tmp_path, "run", "--yes", "--playbook", str(book))
    took = time.monotonic() - started
    assert done.status == 1, done.err
    async_zone = config.zones[2].uuid
    assert "cannot succeed" in done.err
    assert f"the sitter of {async_zone} is not running" in done.err
    assert "Last seen:" in done.err and "sitter disabled" in done.err
    assert "migrator resume --inventory" in done.err
    assert took < 60, took  # far from the step's 120 s
