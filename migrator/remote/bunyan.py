"""Bunyan log records: parse, match on structured fields, and pretty-print like ``bunyan``.

A line that is not a bunyan JSON object is kept as a raw record, so substring
matching still works on non-JSON logs. Matching (``RecordMatch``) is pure:

* ``msg`` equals the record's message. Manatee logs some objects as extra
  ``util.format`` arguments, which land inside ``msg`` in Node's ``util.inspect``
  notation (``pg: applied config { role: 'sync', upstream: {...} }``); such a
  message is split into its text (``pg: applied config``), which ``msg`` is
  compared with, and the object, whose keys count as fields;
* ``msg_prefix``: the message starts with it;
* ``fields`` are equalities on (dotted) fields, e.g. ``{role: sync}`` or
  ``{err.name: ClusterFrozenError}``; a YAML number also matches its string
  form; a peer object (``upstream``) matches a string equal to its ``zoneId``,
  ``id`` or ``ip``;
* ``contains`` is a substring of the raw line;
* ``min_level`` is a bunyan level name or number.

All given conditions must hold. A raw (non-JSON) record can only match
``contains``-only specs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migrator.strictjson import MAX_DEPTH, loads, nesting_depth

LEVELS = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}
LEVEL_NUMBERS = {name.lower(): number for number, name in LEVELS.items()}
_CORE = frozenset({"v", "level", "name", "hostname", "pid", "time", "msg", "src", "component"})


@dataclass(frozen=True)
class LogRecord:
    raw: str
    fields: Mapping[str, Any] | None  # None: not a bunyan record

    @property
    def is_bunyan(self) -> bool:
        return self.fields is not None

    def get(self, dotted: str) -> Any:
        """A field by dotted path (``err.name``), then from the inspected object in msg."""
        found = _lookup(self.fields, dotted)
        if found is _MISSING:
            found = _lookup(self.inspected()[1], dotted)
        return None if found is _MISSING else found

    @property
    def msg(self) -> str | None:
        value = self.fields.get("msg") if self.fields is not None else None
        return value if isinstance(value, str) else None

    def inspected(self) -> tuple[str | None, Mapping[str, Any] | None]:
        """The message's text and the object Node inspected into it, if any."""
        msg = self.msg
        if msg is None:
            return None, None
        start = msg.find("{")
        if start < 0:
            return msg, None
        parsed = parse_inspected(msg[start:])
        if not isinstance(parsed, dict):
            return msg, None
        return msg[:start].rstrip(), parsed

    @property
    def level(self) -> int | None:
        value = self.get("level")
        return value if isinstance(value, int) else None


_MISSING = object()


def _lookup(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


_TOKEN_RE = re.compile(
    r"""\s*(?:(?P<punct>[{}\[\],:])|(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"""|(?P<num>-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)|(?P<word>[A-Za-z_$][\w$]*))""",
)
_WORDS: dict[str, Any] = {"null": None, "undefined": None, "true": True, "false": False}


def parse_inspected(text: str) -> Any:
    """Node ``util.inspect`` output (JSON-like, unquoted keys, '-strings) -> data, or None."""
    if text.count("{") + text.count("[") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        return None  # nobody logs that deep; parsing it would exhaust the stack
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN_RE.match(text, position)
        if match is None or match.end() == position:
            return None
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    try:
        value, used = _parse_value(tokens, 0)
    except (IndexError, ValueError):
        return None
    return value if used == len(tokens) else None


def _parse_value(tokens: list[tuple[str, str]], i: int) -> tuple[Any, int]:
    kind, text = tokens[i]
    if kind == "str":
        return _unquote(text), i + 1
    if kind == "num":
        return (float(text) if any(c in text for c in ".e") else int(text)), i + 1
    if kind == "word":
        return _WORDS.get(text, text), i + 1
    if text == "{":
        result: dict[str, Any] = {}
        i += 1
        while tokens[i][1] != "}":
            key_kind, key = tokens[i]
            if key_kind not in ("word", "str", "num") or tokens[i + 1][1] != ":":
                raise ValueError("bad key")
            value, i = _parse_value(tokens, i + 2)
            result[_unquote(key) if key_kind == "str" else key] = value
            if tokens[i][1] == ",":
                i += 1
        return result, i + 1
    if text == "[":
        items: list[Any] = []
        i += 1
        while tokens[i][1] != "]":
            value, i = _parse_value(tokens, i)
            items.append(value)
            if tokens[i][1] == ",":
                i += 1
        return items, i + 1
    raise ValueError(f"unexpected {text!r}")


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_line(line: bytes | str) -> LogRecord:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.rstrip("\r\n")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = loads(stripped)
        except ValueError:  # includes JsonRejected: too deep, NaN, a huge number
            data = None
        if isinstance(data, dict) and "msg" in data and "level" in data:
            return LogRecord(text, data)
    return LogRecord(text, None)


def level_number(value: str | int) -> int:
    if isinstance(value, int):
        return value
    if value.isdigit():
        return int(value)
    try:
        return LEVEL_NUMBERS[value.lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {value!r}; use one of {', '.join(LEVEL_NUMBERS)} or a number"
        ) from None


@dataclass(frozen=True)
class RecordMatch:
    msg: str | None = None
    msg_prefix: str | None = None
    contains: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    min_level: int | None = None

    def structured(self) -> bool:
        return bool(self.msg is not None or self.msg_prefix is not None or self.fields
                    or self.min_level is not None)

    def matches(self, record: LogRecord) -> bool:
        if self.contains is not None and self.contains not in record.raw:
            return False
        if not self.structured():
            return self.contains is not None
        if not record.is_bunyan:
            return False
        msg = record.msg
        if self.msg is not None and msg != self.msg and record.inspected()[0] != self.msg:
            return False
        if self.msg_prefix is not None and (msg is None or not msg.startswith(self.msg_prefix)):
            return False
        if self.min_level is not None and (record.level or 0) < self.min_level:
            return False
        return all(_equal(record.get(k), v) for k, v in self.fields.items())

    def describe(self) -> str:
        parts = []
        if self.msg is not None:
            parts.append(f"msg is {self.msg!r}")
        if self.msg_prefix is not None:
            parts.append(f"msg starts with {self.msg_prefix!r}")
        parts += [f"{k} is {v!r}" for k, v in self.fields.items()]
        if self.min_level is not None:
            parts.append(f"level >= {LEVELS.get(self.min_level, self.min_level)}")
        if self.contains is not None:
            parts.append(f"line contains {self.contains!r}")
        return " and ".join(parts) or "any record"


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected  # `true` must not match 1
    if actual == expected:
        return True
    if isinstance(actual, Mapping) and isinstance(expected, str):
        return expected in (actual.get("zoneId"), actual.get("id"), actual.get("ip"))
    numbers = (int, float)
    if isinstance(expected, str) and isinstance(actual, numbers):
        return str(actual) == expected
    if isinstance(actual, str) and isinstance(expected, numbers):
        return actual == str(expected)
    return False


# --- pretty printing (the `bunyan` CLI's default "long" format) --------------------------


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))


def format_record(record: LogRecord) -> str:
    """``[time] LEVEL: name/component/pid on host (src): msg (k=v, ...)`` plus details."""
    if record.fields is None:
        return record.raw
    rec = dict(record.fields)
    level = rec.get("level")
    level_name = LEVELS.get(level, f"LVL{level}") if isinstance(level, int) else str(level)
    name = str(rec.get("name", ""))
    if rec.get("component"):
        name += f"/{rec['component']}"
    name += f"/{rec.get('pid', '')}"
    src = ""
    source = rec.get("src")
    if isinstance(source, Mapping) and source.get("file"):
        src = f" ({source['file']}:{source.get('line', '')}"
        src += f" in {source['func']})" if source.get("func") else ")"
    msg = str(rec.get("msg", ""))
    details: list[str] = []
    if "\n" in msg:
        details.append(_indent(msg))
        msg = ""
    extras: list[str] = []
    if isinstance(rec.get("err"), Mapping) and rec["err"].get("stack"):
        details.append(_indent(str(rec["err"]["stack"])))
        rec.pop("err")
    for key, value in rec.items():
        if key in _CORE:
            continue
        stringified = not isinstance(value, str)
        text = json.dumps(value, indent=2) if stringified else value
        if "\n" in text or len(text) > 50:
            details.append(_indent(f"{key}: {text}"))
        elif not stringified and (" " in text or not text):
            extras.append(f"{key}={json.dumps(text)}")
        else:
            extras.append(f"{key}={text}")
    line = (f"[{rec.get('time', '')}] {level_name:>5}: {name} on {rec.get('hostname', '')}"
            f"{src}: {msg}")
    if extras:
        line += (" " if msg else "") + f"({', '.join(extras)})"
    if details:
        line += "\n" + "\n    --\n".join(details)
    return line
