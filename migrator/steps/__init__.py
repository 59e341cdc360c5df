"""Registered checks and actions that playbooks name; one area per module.

Modules register themselves on import; ``load_all()`` imports every area so the
registry is complete before a playbook is validated.
"""

from __future__ import annotations

import importlib

STEP_MODULES = ("migrator.steps.zk", "migrator.steps.remote", "migrator.steps.rollback",
                "migrator.steps.serving")


def load_all() -> None:
    for name in STEP_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
