"""A wheel built from the project migrates: installed into a fresh virtualenv outside the
checkout, it lists its seven playbooks, plans against a sandbox and has its man pages."""

from __future__ import annotations

import json
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SandboxFactory

pytestmark = [pytest.mark.sandbox, pytest.mark.local]

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False, stdin=subprocess.DEVNULL, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the project's wheel (and nothing of the checkout); its
    dependencies come from this environment's site-packages, so nothing is downloaded."""
    work = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "-q", "-w", str(work / "dist"), str(ROOT)], work)
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("manatee_migrator-*.whl")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], work)
    assert made.returncode == 0, made.stderr
    added = _run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index",
                  str(wheel)], work)
    assert added.returncode == 0, added.stderr
    # the dependencies, as a plain path: the checkout's editable install is not seen
    (packages,) = (venv / "lib").glob("python*/site-packages")
    (packages / "dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    return venv


def test_the_installed_wheel_lists_its_playbooks_and_man_pages(installed: Path) -> None:
    elsewhere = installed.parent
    listed = _run([str(installed / "bin" / "migrator"), "playbooks", "list", "--json"],
                  elsewhere)
    assert listed.returncode == 0, listed.stderr
    names = sorted(p["name"] for p in json.loads(listed.stdout)["playbooks"])
    assert names == sorted(p.stem for p in (ROOT / "playbooks").glob("*.yaml"))
    assert len(names) == 7
    where = _run([str(installed / "bin" / "python"), "-c",
                  "import migrator; print(migrator.__file__)"], elsewhere)
    assert where.stdout.startswith(str(installed)), where.stdout  # not the checkout's
    page = installed / "share" / "man" / "man1" / "migrator.1"
    assert page.is_file()
    shown = _run(["man", "-M", str(installed / "share" / "man"), "-P", "cat", "migrator-run"],
                 elsewhere, env={"PATH": "/usr/bin:/bin", "MANWIDTH": "100"})
    assert shown.returncode == 0 and "migrator run" in shown.stdout, shown.stderr
    reference = _run([str(installed / "bin" / "migrator"), "inventory", "format"], elsewhere)
    assert reference.returncode == 0 and "zones:" in reference.stdout


def test_the_installed_wheel_plans_against_a_sandbox(installed: Path,
                                                     sandbox: SandboxFactory) -> None:
    config = sandbox(nodes=3)
    planned = _run([str(installed / "bin" / "migrator"), "plan", "--inventory",
                    str(config.directory / "inventory.yaml"), "--json"], installed.parent)
    assert planned.returncode == 0, planned.stderr[-2000:]
    document = json.loads(planned.stdout)
    assert document["playbook"] == "three-node"
    assert [s["id"] for s in document["steps"]][:2] == ["upgrade-morays", "reprovision-async"]
