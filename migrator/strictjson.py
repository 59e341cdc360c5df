"""Parse JSON the way manatee's readers (Node's ``JSON.parse``) would accept it, bounded.

Python's ``json`` module is more lenient than Node and less careful than a tool
reading hostile znodes should be:

* it accepts ``NaN``, ``Infinity`` and ``-Infinity``, and turns ``1e999999``
  into ``inf``; serialised back they become ``NaN``/``Infinity``, which every
  upstream reader rejects with a ``SyntaxError``. We refuse them all;
* it turns a 50,000-digit number into a ``ValueError`` from ``int()`` and deep
  nesting into a ``RecursionError``; both would surface as internal errors.
  Integers must be exact in JavaScript (at most 2**53 - 1 in magnitude, which
  also bounds their length), nesting is bounded by ``MAX_DEPTH`` (a manatee
  state is four levels deep), and input by a byte limit the caller chooses;
* bytes must be UTF-8, and an escaped lone surrogate (``"\\ud800"``), which
  Python keeps but cannot encode back to UTF-8, is refused.

Every problem raises ``JsonRejected`` (a ``ValueError``) with a short reason;
callers wrap it into the typed error that names the znode or file.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
# Number.MAX_SAFE_INTEGER: larger integers are rounded by every JavaScript reader.
MAX_SAFE_INTEGER = 2**53 - 1
# ZooKeeper refuses a request larger than jute.maxbuffer (default 0xfffff bytes).
ZK_MAX_BUFFER = 0xFFFFF

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JsonRejected(ValueError):
    """The text is not JSON that manatee's Node readers would take as written."""


def _constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not JSON (Node's JSON.parse rejects it)")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonRejected(f"the number {_abbrev(text)} is too large for a JSON reader")
    return value


def _int(text: str) -> int:
    # Checked on length first: int() of a huge digit string is slow and then refused.
    if len(text.lstrip("-")) > 16 or abs(int(text)) > MAX_SAFE_INTEGER:
        raise JsonRejected(
            f"the integer {_abbrev(text)} cannot be represented exactly by a JavaScript reader"
        )
    return int(text)


def _abbrev(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} characters)"


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """The deepest bracket nesting outside string literals, counted up to ``limit + 1``."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif token in "]}":
            depth -= 1
    return deepest


def loads(raw: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Strict, bounded ``json.loads``; raises ``JsonRejected`` naming the problem."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise JsonRejected(f"it is {len(raw)} bytes long, more than the {max_bytes} allowed")
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRejected(f"it is not UTF-8 (byte {exc.start})") from None
    else:
        text = raw
    # Fewer brackets than the limit cannot nest deeper: the scan is skipped for
    # nearly every real znode and log line (two C-speed counts instead).
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text, max_depth) > max_depth:
        raise JsonRejected(f"it nests deeper than {max_depth} levels")
    try:
        value = json.loads(
            text, parse_constant=_constant, parse_float=_float, parse_int=_int
        )
        if "\\u" in text and _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # pairs combine; lone ones fail
        return value
    except UnicodeEncodeError:
        raise JsonRejected("it holds an escaped lone surrogate, which is not text") from None
    except JsonRejected:
        raise
    except RecursionError:  # the scan above makes this unreachable; kept as a guard
        raise JsonRejected(f"it nests deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise JsonRejected(str(exc)) from None
    except ValueError as exc:
        raise JsonRejected(str(exc)) from None


def duplicate_keys(text: str | bytes) -> list[str]:
    """Keys that appear twice in one object of ``text`` (already accepted by ``loads``).

    JSON readers keep the last of duplicate keys silently, so a document with
    them says two things at once; callers that copy it onward refuse it.
    """
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and key not in found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found

