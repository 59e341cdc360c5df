"""playbooks list|show|validate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import migrator.steps  # noqa: F401  (registers the built-in checks and actions)
from migrator.playbook import catalog
from migrator.playbook.loader import LoadedPlaybook, load_playbook_file
from migrator.stepkit.registry import actions, checks
from migrator.ui.inert import inert


def list_playbooks() -> list[dict[str, Any]]:
    out = []
    for name in catalog.builtin_names():
        loaded = catalog.resolve(name)
        out.append({"name": name, "peers": loaded.playbook.peers,
                    "steps": len(loaded.playbook.steps), "title": loaded.playbook.title,
                    "digest": loaded.digest})
    return out


def list_registry() -> list[dict[str, str]]:
    rows = []
    for kind, table in (("check", checks()), ("action", actions())):
        for name, reg in sorted(table.items()):
            fields = ", ".join(reg.params.field_names()) or "-"
            rows.append({"kind": kind, "name": name, "params": fields, "summary": reg.summary})
    return rows


def validate(path: Path) -> LoadedPlaybook:
    return load_playbook_file(path)


def show(name: str, as_json: bool) -> None:
    loaded = catalog.resolve(name)
    if as_json:
        print(json.dumps(loaded.playbook.dump(), indent=2, ensure_ascii=False))
        return
    book = loaded.playbook
    lines = [f"{book.name}: {book.title} ({book.peers} peer(s), {loaded.digest})", "",
             book.description.strip()]
    if book.tradeoff:
        lines += ["", "Trade-off:", book.tradeoff.strip()]
    if book.risks:
        lines += ["", "Risks:"] + [f"  - {r}" for r in book.risks]
    for index, step in enumerate(book.steps, start=1):
        lines += ["", f"{index}. {step.title} [{step.id}]"
                  + (" (outage: type the shard name)" if step.outage else "")]
        lines += [f"   {line}" for line in step.explain.strip().splitlines()]
        if step.preconditions:
            lines.append("   preconditions: " + ", ".join(r.check for r in step.preconditions))
        lines.append(f"   action: {step.action.name} {step.action.params or ''}".rstrip())
        lines.append("   verify: " + ", ".join(r.check for r in step.verify)
                     + f" (within {step.timeout:g} s)")
    print(inert("\n".join(lines)))
