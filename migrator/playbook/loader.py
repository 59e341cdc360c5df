"""Load and validate a playbook; every error names the file, line, step and field.

Validation happens in three layers, all before anything runs: YAML syntax
(PyYAML's own marks), the schema (records; their error locations are mapped back
onto the composed YAML node tree to find the line), and the registry (every
check and action name must be registered, and its parameters must validate
against the model it registered).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import migrator.steps  # noqa: F401  (registers the built-in checks and actions)
from migrator.cluster.original import ROLES_BY_PEERS
from migrator.errors import BadInput
from migrator.inputfile import MAX_INPUT_BYTES, open_regular
from migrator.record import Problem, RecordError
from migrator.stepkit.registry import actions, checks, get_action, get_check
from migrator.stepkit.schema import CheckRef, Playbook
from migrator.yamldoc import parse_document


class PlaybookError(BadInput):
    """A playbook file cannot be used; the message says where and why."""


# The runbook's longest procedure is about a dozen steps, the built-in playbooks fewer
# than 30: 500 is generous for any playbook a person writes and reviews, and keeps a
# run's journal, its plan and `playbooks show` readable.
MAX_STEPS = 500


def _check_length(source: str) -> Callable[[yaml.Node], None]:
    """The precheck of ``parse_document``: refuse more than ``MAX_STEPS`` steps.

    Run on the composed node tree, before the alias check and before anything is
    constructed or validated (issue 21 §5): a 10,000-step playbook is refused as too
    long, naming the line of its ``steps:``, rather than as an alias bomb (which
    ``migrator.yamldoc`` now reserves for documents whose aliases add the nodes)."""

    def check(root: yaml.Node) -> None:
        if not isinstance(root, yaml.MappingNode):
            return  # the schema check says what a playbook is
        for key, value in root.value:
            if (isinstance(key, yaml.ScalarNode) and key.value == "steps"
                    and isinstance(value, yaml.SequenceNode) and len(value.value) > MAX_STEPS):
                raise PlaybookError(
                    f"{source}, line {key.start_mark.line + 1}: the playbook has "
                    f"{len(value.value)} steps, more than the {MAX_STEPS} a playbook may have.",
                    "Split the procedure into several playbooks, each run on its own.",
                )

    return check


@dataclass(frozen=True)
class LoadedPlaybook:
    """A validated playbook with where it came from and the digest of its bytes."""

    playbook: Playbook
    source: str  # the file it came from (or a name for built-ins)
    digest: str  # sha256 of the bytes, recorded in the journal

    @property
    def name(self) -> str:
        return self.playbook.name


def playbook_digest(text: bytes) -> str:
    return "sha256:" + hashlib.sha256(text).hexdigest()


def load_playbook_file(path: Path, *, check_registry: bool = True) -> LoadedPlaybook:
    try:
        # a regular file (a FIFO would block), read bounded
        with open_regular(path, "playbook", "Give the playbook's YAML file itself.") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise PlaybookError(
            f"Cannot read playbook {path}: {exc.strerror or exc}.",
            "Check the path; `migrator playbooks list` shows the built-in ones.",
        ) from exc
    if len(raw) > MAX_INPUT_BYTES:
        raise PlaybookError(
            f"The playbook {path} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB.",
            "Give the playbook's YAML file itself.",
        )
    return load_playbook_text(raw, str(path), check_registry=check_registry)


# Successful loads within this process, keyed by the exact bytes, source and
# registry flag: `migrator plan` and a run load the chosen playbook and every
# built-in alternative more than once, and validating one costs milliseconds.
# Keying on the bytes (not the path or mtime) means an edited file is always
# validated afresh; failures are never cached, so they are reported every time.
_LOADED: dict[tuple[bytes, str, bool], LoadedPlaybook] = {}


def load_playbook_text(
    raw: bytes, source: str, *, check_registry: bool = True
) -> LoadedPlaybook:
    key = (raw, source, check_registry)
    cached = _LOADED.get(key)
    if cached is None:
        cached = _LOADED[key] = _load_playbook_text(raw, source, check_registry=check_registry)
    return cached


def _load_playbook_text(
    raw: bytes, source: str, *, check_registry: bool
) -> LoadedPlaybook:

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlaybookError(f"{source} is not UTF-8 text ({exc}).", "Save it as UTF-8.") from exc
    try:
        root, data = parse_document(text, _check_length(source))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError(
            f"{where}: not valid YAML ({problem}).",
            "Fix the YAML syntax at that line (indentation, quoting, a missing colon).",
        ) from exc
    if not isinstance(data, dict):
        raise PlaybookError(
            f"{source}, line 1: a playbook is a YAML mapping with name, title, description, "
            "peers and steps.",
            "See `migrator playbooks show three-node` for an example.",
        )
    locate = _Locator(source, root, data)
    try:
        playbook = Playbook.validate(data)
    except RecordError as exc:
        problems = [locate.describe(p.loc, _message(p)) for p in exc.problems[:5]]
        raise PlaybookError(
            "; ".join(problems) + ".",
            "Fix the playbook; `migrator playbooks show three-node` shows a valid one.",
        ) from exc
    if check_registry:
        validate_registry(playbook, locate)
    return LoadedPlaybook(playbook, source, playbook_digest(raw))


def _message(problem: Problem) -> str:
    if problem.kind == "unknown":
        return "unknown field"
    return problem.message


def validate_registry(playbook: Playbook, locate: _Locator) -> None:
    """Every named check/action is registered and its params validate; roles exist."""
    problems: list[str] = []
    unknown = False
    allowed = ROLES_BY_PEERS[playbook.peers]
    for index, step in enumerate(playbook.steps):
        base: tuple[str | int, ...] = ("steps", index)
        refs: list[tuple[tuple[str | int, ...], CheckRef]] = []
        for field in ("preconditions", "verify", "done_when"):
            for i, ref in enumerate(getattr(step, field) or []):
                refs.append(((*base, field, i), ref))
        named: list[tuple[tuple[str | int, ...], str, str, dict[str, Any]]] = [
            (loc, "check", ref.check, ref.params) for loc, ref in refs
        ]
        named.append(((*base, "action"), "action", step.action.name, step.action.params))
        for loc, kind, name, params in named:
            name_field = "check" if kind == "check" else "name"
            try:
                registered = get_check(name) if kind == "check" else get_action(name)
            except BadInput:
                problems.append(locate.describe((*loc, name_field), f"unknown {kind} {name!r}"))
                unknown = True
                continue
            try:
                registered.params.validate(params)
            except RecordError as exc:
                for problem in exc.problems[:3]:
                    problems.append(
                        locate.describe((*loc, "params", *problem.loc), _message(problem))
                    )
            for key, value in _role_refs(params):
                if value not in allowed:
                    problems.append(
                        locate.describe(
                            (*loc, "params", *key),
                            f"{value} does not exist in a {playbook.peers}-node shard "
                            f"(roles: {', '.join(allowed)})",
                        )
                    )
    if problems:
        hint = "Use the names and parameters `migrator playbooks list --checks` prints."
        if unknown:
            hint = (f"Registered checks: {', '.join(sorted(checks()))}. Registered actions: "
                    f"{', '.join(sorted(actions()))}.")
        more = f" (and {len(problems) - 6} more)" if len(problems) > 6 else ""
        raise PlaybookError("; ".join(problems[:6]) + more + ".", hint)


Loc = tuple[str | int, ...]


def _role_refs(value: Any, key: Loc = ()) -> list[tuple[Loc, str]]:
    """String parameters that name an original role (anywhere in the params)."""
    found: list[tuple[Loc, str]] = []
    if isinstance(value, str) and value.startswith("original_"):
        found.append((key, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            found.extend(_role_refs(v, (*key, str(k))))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_role_refs(v, (*key, i)))
    return found


class _Locator:
    """Maps a validation error location onto the YAML node tree for a line number."""

    def __init__(self, source: str, root: Any, data: dict[str, Any]) -> None:
        self.source = source
        self.root = root
        self.data = data

    def line_of(self, loc: Sequence[str | int]) -> int:
        node = self.root
        line = node.start_mark.line + 1 if node is not None else 1
        for part in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.value == str(part):
                        child = value_node
                        break
            elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
                  and 0 <= part < len(node.value)):
                child = node.value[part]
            if child is None:
                break  # a missing field: the line of its closest parent is the best we have
            node = child
            line = node.start_mark.line + 1
        return line

    def step_name(self, loc: Sequence[str | int]) -> str | None:
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            steps = self.data.get("steps")
            if isinstance(steps, list) and 0 <= loc[1] < len(steps):
                step = steps[loc[1]]
                if isinstance(step, dict) and isinstance(step.get("id"), str):
                    return f"step {step['id']!r}"
            return f"step #{loc[1] + 1}"
        return None

    def describe(self, loc: Sequence[str | int], message: str) -> str:
        parts = [self.source, f"line {self.line_of(loc)}"]
        step = self.step_name(loc)
        field_loc = loc[2:] if step else loc
        if step:
            parts.append(step)
        if field_loc:
            parts.append("field " + _field_path(field_loc))
        return ", ".join(parts) + f": {message.rstrip('.')}"


def _field_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
