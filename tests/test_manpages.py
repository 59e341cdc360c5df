"""The man pages are generated from the commands (click-man), one per command."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


# click-man 0.6 calls click's make_default_short_help, deprecated in click 8.2
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_man_pages_are_generated_from_the_commands(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("manpages", ROOT / "scripts" / "manpages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["manpages"] = module
    spec.loader.exec_module(module)
    assert module.main([str(tmp_path)]) == 0
    pages = {p.name for p in tmp_path.glob("*.1")}
    assert {"migrator.1", "migrator-run.1", "migrator-report.1", "migrator-status.1",
            "migrator-sandbox-up.1"} <= pages
    run = (tmp_path / "migrator-run.1").read_text()
    assert ".TH" in run and "\\-\\-yes" in run and "\\-\\-json" in run
    status = (tmp_path / "migrator-status.1").read_text()
    assert "\\-z" in status and "\\-\\-watch" in status
