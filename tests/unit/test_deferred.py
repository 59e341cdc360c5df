"""Deferred third-party import work (migrator.deferred): invisible to the library."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.deferred import deferred_module, deferred_patterns


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    """A package of our own on sys.path, removed (and unimported) afterwards."""
    root = tmp_path / "deferme"
    root.mkdir()
    (root / "__init__.py").write_text("import re\nLOADED = True\nWORD = re.compile('w+')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "deferme"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("deferme", None)


@pytest.mark.unit
def test_a_deferred_module_loads_at_its_first_use_and_then_is_the_real_one(
    package: str,
) -> None:
    deferred_module(package)
    stand_in = sys.modules[package]
    imported = __import__(package)
    assert imported is stand_in and "LOADED" not in vars(stand_in)  # nothing ran yet
    assert imported.LOADED is True  # first use: the real module is imported
    real = sys.modules[package]
    assert real is not stand_in and real.LOADED is True
    assert imported.WORD is real.WORD  # the stand-in forwards to it from then on


@pytest.mark.unit
def test_a_module_already_imported_is_left_alone() -> None:
    before = sys.modules["re"]
    deferred_module("re")
    assert sys.modules["re"] is before


@pytest.mark.unit
def test_patterns_compiled_inside_the_package_wait_for_their_first_use(
    package: str,
) -> None:
    with deferred_patterns(package):
        module = __import__(package)
        outside = re.compile("x+")
    assert isinstance(outside, re.Pattern)  # compiled by someone else: as usual
    word = module.WORD
    assert not isinstance(word, re.Pattern) and word._compiled is None
    assert word.fullmatch("www") and not word.search("xyz")
    assert isinstance(word._compiled, re.Pattern) and word.pattern == "w+"
    assert re.compile is not None and isinstance(re.compile("y"), re.Pattern)  # restored


@pytest.mark.local
def test_yaml_and_kazoo_import_without_their_eager_work() -> None:
    """In a fresh interpreter, as a command starts: PyYAML's reader pattern is not
    compiled, kazoo did not load ssl, and both still work."""
    code = textwrap.dedent("""
        import sys
        from migrator.yamllib import yaml
        from migrator.zk.client import PendingConnection, resolve_target
        import yaml.reader
        assert yaml.reader.Reader.NON_PRINTABLE._compiled is None
        doc = yaml.load("a: 2026-01-01\\nb: [1, 2.5, true, null]\\n", Loader=yaml.CSafeLoader)
        assert str(doc["a"]) == "2026-01-01" and doc["b"] == [1, 2.5, True, None]
        pending = PendingConnection(resolve_target("127.0.0.1:9", 0.2))
        pending.client.stop()
        pending.client.close()
        assert "_ssl" not in sys.modules, "ssl was loaded"
        assert "platform" not in sys.modules, "uuid was loaded"
        import ssl
        assert ssl.PROTOCOL_TLS_CLIENT  # first use loads it
        assert "_ssl" in sys.modules
        from kazoo.recipe.lock import Lock
        assert len(Lock(pending.client, "/x").prefix) > 32  # uuid4().hex, loaded on use
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
