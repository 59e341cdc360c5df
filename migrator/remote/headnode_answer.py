"""What the headnode's API wrappers answer (``sdc-vmapi``, ``sdc-cnapi``...), as data.

Pure: text in, facts out, or ``Unparseable`` with a sentence saying what was expected.
The ``sdc-*`` commands are curl wrappers: they print an HTTP status line and headers
before the JSON body, and exit 0 on a 404. A status line is honoured (anything but
2xx is "not found" or an error); a bare JSON body (``| json -H``, or another
wrapper) is accepted too. Used by discovery (``migrator.discovery.parse``) and by a
reprovision's evidence from VMAPI's jobs (``migrator.remote.vmapi``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from migrator.strictjson import MAX_DEPTH, JsonRejected, nesting_depth


class Unparseable(ValueError):
    """The answer was not what the command's Triton version prints."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None  # None: no status line (a bare body)
    body: str


def http_answer(text: str) -> HttpAnswer:
    stripped = text.lstrip()
    if not stripped.startswith("HTTP/"):
        return HttpAnswer(None, text)
    status_line, _, rest = stripped.partition("\n")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise Unparseable(f"a malformed HTTP status line {status_line.strip()[:80]!r}")
    normalised = rest.replace("\r\n", "\n")
    if normalised.startswith("\n"):
        body = normalised[1:]
    else:
        _headers, found, body = normalised.partition("\n\n")
        if not found:
            body = ""
    return HttpAnswer(int(parts[1]), body)


def headnode_json(text: str) -> Any:
    """A headnode answer's JSON, nesting bounded; ``ValueError`` when it is not JSON.

    Bounded as every JSON the migrator reads (``strictjson.MAX_DEPTH`` levels, where a
    VM, server or image object is a handful): 100,000 nested brackets would otherwise
    exhaust Python's recursion inside ``json.loads`` (a ``RecursionError``, an internal
    error) instead of stopping discovery with its clear failure (exit 2). Not
    ``strictjson.loads`` itself: that one refuses what Node's readers could not
    round-trip (integers beyond 2**53, ``NaN``) because manatee's own JSON is copied
    into ``/state``; a Triton API answer is only read for a few fields, and a large
    number in a field discovery never reads must not stop it.
    """
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise JsonRejected(f"it nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except RecursionError:  # unreachable after the scan; kept as a guard
        raise JsonRejected(f"it nests deeper than {MAX_DEPTH} levels") from None


def json_of(answer: HttpAnswer) -> Any:
    try:
        return headnode_json(answer.body)
    except JsonRejected as exc:
        raise Unparseable(f"a body that is not JSON ({exc})") from None
    except ValueError:
        raise Unparseable(f"a body that is not JSON ({answer.body.strip()[:80]!r})") from None


def found_json(text: str, what: str) -> Any:
    """The JSON body of a 2xx answer; ``Unparseable`` naming ``what`` otherwise."""
    answer = http_answer(text)
    if answer.status is not None and not 200 <= answer.status < 300:
        detail = ""
        try:
            body = headnode_json(answer.body)
            if isinstance(body, dict):
                detail = f": {body.get('code', '')} {body.get('message', '')}".rstrip()
        except ValueError:
            pass
        raise Unparseable(f"HTTP {answer.status} for {what}{detail}")
    return json_of(answer)
