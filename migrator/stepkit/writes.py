"""A ZooKeeper write the engine proposes: shown as a diff, confirmed, compared to a saved plan."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from migrator.cluster.state import ClusterState


def pretty(document: Any) -> list[str]:
    return json.dumps(document, indent=2, ensure_ascii=False).splitlines()


@dataclass(frozen=True)
class ProposedWrite:
    """``op`` is create, set or delete of ``path``; ``after`` is None for a delete."""

    op: str
    path: str
    before: dict[str, Any] | None
    after: ClusterState | None
    history: bool  # whether a history/0- record with the same bytes goes with it
    checks: list[str] = field(default_factory=list)  # ticked checks to show with it
    note: str | None = None

    def diff(self) -> str:
        old = pretty(self.before) if self.before is not None else []
        new = pretty(self.after.document) if self.after is not None else []
        lines = difflib.unified_diff(
            old, new,
            fromfile=f"{self.path} (now)" if self.before is not None else "/dev/null",
            tofile=f"{self.path} (after)" if self.after is not None else "/dev/null",
            lineterm="",
        )
        return "\n".join(lines)

    def summary(self) -> str:
        extra = " + create history/0- (same bytes)" if self.history else ""
        version = "" if self.op == "create" else " at the version read"
        return f"{self.op} {self.path}{version}{extra}"

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "path": self.path,
            "before": self.before,
            "after": None if self.after is None else self.after.document,
            "history": self.history,
            "summary": self.summary(),
            "diff": self.diff(),
        }
