"""Step-start hooks: things recorded when a step starts, before its action.

Remote areas register one to put, for example, each zone's log offset into
``ctx.marks``; the runner persists ``marks`` in the journal before acting, so a
resumed step still reads the log from where the step really began.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StepStartHook = Callable[[Any, Any], None]  # (ctx, playbook Step)
_HOOKS: list[StepStartHook] = []


def on_step_start(func: StepStartHook) -> StepStartHook:
    if func not in _HOOKS:
        _HOOKS.append(func)
    return func


def run_step_start(ctx: Any, step: Any) -> None:
    for hook in list(_HOOKS):
        hook(ctx, step)
