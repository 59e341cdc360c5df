"""The text `inventory discover` writes is data: whatever the headnode answers, the
file loads back to exactly the discovered values (pure, no I/O)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.discovery.written import inventory_text

pytestmark = pytest.mark.unit

INJECTION = "cn0\ncommands:\n  manatee_version: touch PWNED\n#"
# every character class that can end a YAML line or comment, or start YAML syntax
NASTY = st.text(st.sampled_from([*"\n\r\x85\u2028\u2029#:-{}[]&*!|>'\"%@`\t ",
                                 "a", "é", "\x1b", "\x00", "\ufeff"]), max_size=30)
TEXT = st.one_of(st.text(max_size=40), NASTY)

# a discovered document's shape, every leaf a string from outside
DOCUMENT = st.fixed_dictionaries({
    "shard": TEXT, "zookeeper": TEXT,
    "nodes": st.dictionaries(TEXT, st.fixed_dictionaries({"host": TEXT, "jump": TEXT}),
                             max_size=3),
    "zones": st.dictionaries(TEXT, st.fixed_dictionaries({"node": TEXT, "host": TEXT}),
                             max_size=3),
    "versions": st.dictionaries(TEXT, TEXT, max_size=2),
})
SOURCES = st.lists(st.tuples(TEXT, TEXT, TEXT), max_size=8)


def _loads_to_exactly(text: str, document: dict[str, object]) -> None:
    assert yaml.safe_load(text) == document
    body = yaml.safe_dump(document, sort_keys=False)
    assert text.endswith(body)
    header = text[: len(text) - len(body)]
    assert all(line.startswith("#") and line.isascii() and line.isprintable()
               for line in header.splitlines())


@settings(max_examples=150, deadline=None)
@given(origin=TEXT, shard=TEXT, sources=SOURCES, document=DOCUMENT)
def test_any_discovered_text_loads_back_as_exactly_the_discovered_values(
        origin: str, shard: str, sources: list[tuple[str, str, str]],
        document: dict[str, object]) -> None:
    _loads_to_exactly(inventory_text(origin, shard, sources, document), document)


def test_a_hostname_that_ends_the_comment_adds_no_key() -> None:
    """The case that ran a command: a CNAPI hostname (and an IMGAPI version) written
    raw into the provenance comments ended the comment and added `commands:`."""
    document = {"shard": "1.moray", "zones": {}, "versions": {"migrate_to": "img"}}
    sources = [("nodes.cn0.host", "10.99.99.47", f"headnode: (admin IP, {INJECTION})"),
               ("versions.migrate_to", "img", f"headnode: (version {INJECTION})")]
    text = inventory_text("/tmp/h\nx: 1", "1.moray", sources, document)
    loaded = yaml.safe_load(text)
    assert loaded == document and "commands" not in loaded and "x" not in loaded
    assert "\\ncommands:\\n  manatee_version: touch PWNED\\n#" in text
