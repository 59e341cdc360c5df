"""`migrator plan`'s look at the zones, taken by a forked helper (real sshd on 127.0.0.x).

The look runs in a fresh interpreter here, as in the CLI: a process with one thread,
which has not imported paramiko (pytest's own process has)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.inventory import Inventory

pytestmark = pytest.mark.sshd

SCRIPT = """
import json, os, sys
from pathlib import Path
from migrator.inventory import load_inventory
from migrator.commands.look import ForkedLook, start_look
from migrator.engine.preflight import zone_words

inventory = load_inventory(Path(sys.argv[1]))
look = start_look(inventory, "auto")
assert isinstance(look, ForkedLook), type(look)
session = look.session()
pid = session._forked._pid
out = {}
words = zone_words(inventory, None)
reports = session.looked_reports(words)
out["reports"] = [r.to_json() for r in reports]
if reports[0].reachable:
    out["version"] = session.run_template("z1", "manatee_version").text
    end = session.read_log_end("z1", 65536)
    out["log_end"] = end.data.decode()
    out["paramiko_after_look"] = "paramiko" in sys.modules
    out["uncovered"] = session.looked_reports((*words, "a-command-no-playbook-calls"))
    out["fallback"] = session.run("z1", "echo fell back").text
    out["paramiko_after_fallback"] = "paramiko" in sys.modules
session.close()
out["child_gone"] = not os.path.exists(f"/proc/{pid}")
# the same probe, in this process, for comparison
from migrator.remote.probe import probe_all
from migrator.remote.session import RemoteSession
with RemoteSession(inventory) as direct:
    out["direct"] = [r.to_json() for r in probe_all(direct, inventory, words)]
print(json.dumps(out))
"""


def _looked(inventory_path: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(inventory_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return found


def test_the_look_answers_without_paramiko_here_and_matches_a_direct_probe(
    zone_inventory: Callable[..., Inventory], tmp_path: Path,
) -> None:
    (tmp_path / "sitter.log").write_text('{"level":20,"msg":"cluster not yet setup"}\n')
    zone_inventory(commands={"manatee_version": "echo '{\"version\": \"2.1.0\"}'",
                             "sitter_status": "echo online", "manatee_adm": "sh"})
    found = _looked(tmp_path / "inventory.yaml")
    (report,) = found["reports"]
    assert report["reachable"] and report["ok"], report["problems"]
    assert report["version"] == "2.1.0"
    assert report["sitter"] == "online" and report["debug_records"] is True
    assert report == found["direct"][0]  # the same report as probing from here
    assert json.loads(found["version"]) == {"version": "2.1.0"}
    assert found["log_end"].endswith("cluster not yet setup\"}\n")
    assert found["paramiko_after_look"] is False  # the helper did the SSH
    assert found["uncovered"] is None  # a command outside the look: probed here instead
    assert found["fallback"] == "fell back\n" and found["paramiko_after_fallback"] is True
    assert found["child_gone"] is True


def test_a_zone_the_look_cannot_reach_is_reported_as_a_direct_probe_would(
    zone_inventory: Callable[..., Inventory], tmp_path: Path, silent_port: int,
) -> None:
    zone_inventory(zone={"host": "127.0.0.24", "port": silent_port},
                   ssh={"connect_timeout": 1},
                   commands={"sitter_status": "echo online"})
    found = _looked(tmp_path / "inventory.yaml")
    (report,) = found["reports"]
    (direct,) = found["direct"]
    assert not report["reachable"] and not report["ok"] and not direct["reachable"]
    # the same report but for the words of the failure (which depend on timing)
    assert report["problems"][0].startswith("Cannot reach z1 at root@127.0.0.24")
    assert {**report, "problems": []} == {**direct, "problems": []}
