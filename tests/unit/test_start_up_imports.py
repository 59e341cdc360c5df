"""What `migrator plan` and `migrator status` import: not what only a run uses.

`plan` imports the plan's part of the engine (``migrator.commands.planning``, whose plan
is ``migrator.engine.live_plan``'s), not the run's (``migrator.commands.engine``: the
run's console, events, watches, reporting, the data gate; ``migrator.engine.runner``:
the step loop with its record, resume, waits, watchdog, node locks) nor the
rollback's; `status` reads the journal's znode and the lock holders
(``migrator.engine.journal_znode``, ``migrator.engine.lock``), not the journal's model
and store. Read from the source: the module-level imports of each module, followed
through the package (an import inside a function, deferred, is not followed: it runs
only when that function does). ``tests/zk/test_start_up_imports.py`` runs both
commands and looks at what they loaded.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import migrator

pytestmark = pytest.mark.unit

ROOT = Path(migrator.__file__).parent

# what only `run`, `resume` or `rollback` use (and `plan --rollback`, which imports them
# when asked): `migrator plan` must not load them
RUN_ONLY = frozenset({
    "migrator.cli.run", "migrator.cli.rollback", "migrator.commands.engine",
    "migrator.commands.rollback", "migrator.commands.console", "migrator.commands.datagate",
    "migrator.engine.runreport", "migrator.engine.outagewatch", "migrator.engine.statewatch",
    "migrator.engine.zonestatus",
    # the runner's step loop, and what only it brings: the run's record of the journal,
    # the resume of an action left in flight, the waits, the watchdog with its alarms
    # (and the rollback's decisions they name), the run's summary, the outage locks
    "migrator.engine.runner", "migrator.engine.recording", "migrator.engine.resuming",
    "migrator.engine.inflight", "migrator.engine.waits", "migrator.engine.watchdog",
    "migrator.engine.alarms", "migrator.engine.rollback", "migrator.engine.events",
    "migrator.engine.summary", "migrator.engine.nodelocks",
})
# what `migrator status --shard` uses only for a run (the journal's model and store, the
# original topology it keeps), with an inventory (the zones over SSH) or with --watch
NOT_FOR_STATUS = frozenset({
    "migrator.engine.journal", "migrator.engine.journal_store", "migrator.cluster.original",
    "migrator.commands.zone_views", "migrator.cli.watch", "migrator.commands.engine",
    "migrator.commands.planning", "migrator.engine.runner",
})


def _file_of(module: str) -> Path | None:
    parts = module.split(".")[1:]
    package = ROOT.joinpath(*parts, "__init__.py")
    if package.exists():
        return package
    plain = ROOT.joinpath(*parts[:-1], parts[-1] + ".py") if parts else None
    return plain if plain is not None and plain.exists() else None


def _with_parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_at_load(body: list[ast.stmt]) -> set[str]:
    """The migrator modules the statements import when they run at module level: into
    ``if``/``try``/``with`` blocks and class bodies, not into functions, nor into an
    ``if TYPE_CHECKING:`` block."""
    found: set[str] = set()
    for node in body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if _file_of(f"{node.module}.{alias.name}") is not None}
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found |= _imported_at_load(node.body)
            found |= _imported_at_load(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody,
                          *(h.body for h in node.handlers)):
                found |= _imported_at_load(block)
        elif isinstance(node, ast.With | ast.ClassDef):
            found |= _imported_at_load(node.body)
    return {m for m in found if m.split(".")[0] == "migrator"}


def loaded_by(start: str) -> set[str]:
    """The migrator modules that ``import start`` loads."""
    seen: set[str] = set()
    todo = sorted(_with_parents(start))
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _file_of(module)
        if path is None:
            continue
        for imported in _imported_at_load(ast.parse(path.read_text(), str(path)).body):
            todo.extend(_with_parents(imported) - seen)
    return {m for m in seen if _file_of(m) is not None}


def test_the_reader_follows_module_level_imports_only() -> None:
    body = ast.parse(
        "import migrator.errors\n"
        "from migrator.zk import paths\n"
        "from migrator.ui.inert import inert\n"
        "if TYPE_CHECKING:\n    from migrator.engine import runner\n"
        "def later():\n    from migrator.engine import journal\n"
        "class C:\n    from migrator import strictjson\n").body
    assert _imported_at_load(body) == {"migrator", "migrator.errors", "migrator.zk",
                                       "migrator.zk.paths", "migrator.ui.inert",
                                       "migrator.strictjson"}
    loaded = loaded_by("migrator.cli")
    assert {"migrator", "migrator.cli", "migrator.cli.lazy", "migrator.errors"} <= loaded
    # `migrator --help` imports no command (migrator.cli.lazy names them by path)
    assert "migrator.cli.plan" not in loaded and "migrator.cli.read" not in loaded


def test_plan_starts_its_zones_before_it_loads_the_planning_machinery() -> None:
    # the command's module loads only what reads the inventory and opens the zones'
    # session; the rest (migrator.cli.planned) loads while the handshakes wait
    loaded = loaded_by("migrator.cli.plan")
    assert {"migrator.inventory.load", "migrator.remote.prewarm"} <= loaded
    assert sorted(loaded & {"migrator.cli.planned", "migrator.commands.planning",
                            "migrator.engine.live_plan", "migrator.engine.planner"}) == []


def test_plan_does_not_import_what_only_a_run_uses() -> None:
    loaded = loaded_by("migrator.cli.plan") | loaded_by("migrator.cli.planned")
    # the plan's modules: the command's and the engine's planning half
    assert {"migrator.commands.planning", "migrator.engine.live_plan"} <= loaded
    assert sorted(loaded & RUN_ONLY) == []


def test_status_does_not_import_the_journal_model_nor_the_run() -> None:
    # status imports its reading and rendering modules by name, while ZooKeeper's
    # connection is being made (migrator.cli.options.loading)
    from migrator.cli.read import STATUS_MODULES

    loaded = loaded_by("migrator.cli.read").union(*map(loaded_by, STATUS_MODULES))
    assert {"migrator.commands.progress", "migrator.engine.journal_znode",
            "migrator.engine.lock"} <= loaded
    assert sorted(loaded & NOT_FOR_STATUS) == []
