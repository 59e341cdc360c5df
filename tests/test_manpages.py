"""The man pages (man/man1) are what scripts/manpages.py generates from the commands now,
one per command: committed, shipped in a wheel's data, never stale. Each is a manual
page: a whole NAME line, SYNOPSIS, EXIT STATUS (docs/commands.md's codes), ENVIRONMENT
(every variable the code reads) and EXAMPLES that the commands accept."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path
from typing import Any

import click
import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "man" / "man1"
SECTIONS = ("NAME", "SYNOPSIS", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES")


@pytest.fixture(scope="module")
def script() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "scripts" / "manpages.py"))


@pytest.fixture(scope="module")
def generated(script: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("man1")
    assert script["main"]([str(target)]) == 0
    return {p.name: p.read_text() for p in target.glob("*.1")}


def _without_date(text: str) -> str:
    """A page with the date of its .TH line left out (the day it was generated)."""
    return re.sub(r'^(\.TH "[^"]*" "1") "[^"]*"', r"\1", text, count=1, flags=re.M)


def _sections(page: str) -> dict[str, str]:
    """Section name -> its roff source."""
    parts = re.split(r'^\.SH "?([^"\n]+?)"?$', page, flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def _plain(roff: str) -> str:
    """Roff text as words: font changes, escapes and requests dropped."""
    text = re.sub(r"^\.(?:TP|PP|RS|RE|nf|fi|ad|nh)\b.*$", " ", roff, flags=re.M)
    text = re.sub(r"^\.B ", "", text, flags=re.M)
    text = re.sub(r"\\f[BIRP]|\\%|\\&", "", text).replace("\\-", "-").replace("\\e", "\\")
    return " ".join(text.split())


def _markdown_words(text: str) -> str:
    return " ".join(text.replace("\\|", "|").split())


def test_the_committed_man_pages_are_the_commands_own(generated: dict[str, str]) -> None:
    generated = {name: _without_date(text) for name, text in generated.items()}
    committed = {p.name: _without_date(p.read_text()) for p in COMMITTED.glob("*.1")}
    assert sorted(generated) == sorted(committed), "run: python scripts/manpages.py"
    stale = [name for name in generated if generated[name] != committed[name]]
    assert stale == [], f"stale man pages {stale}: run python scripts/manpages.py"
    assert {"migrator.1", "migrator-run.1", "migrator-report.1", "migrator-status.1",
            "migrator-sandbox-up.1"} <= set(generated)
    run = generated["migrator-run.1"]
    assert ".TH" in run and "\\-\\-yes" in run and "\\-\\-json" in run


def test_every_page_is_a_manual_page(generated: dict[str, str]) -> None:
    for name, page in generated.items():
        sections = _sections(page)
        missing = [s for s in SECTIONS if s not in sections]
        assert missing == [], f"{name} lacks {missing}"
        assert list(sections)[:2] == ["NAME", "SYNOPSIS"], name
        title = name.removesuffix(".1").replace("-", "\\-")
        line = sections["NAME"].strip()
        assert line.startswith(f"{title} \\- "), (name, line)
        assert not line.rstrip(".").endswith(".."), f"{name}: NAME cut short: {line}"
        assert "\n" not in line, f"{name}: NAME is one line"
        assert ".B migrator" in sections["SYNOPSIS"], name
        assert "\n.nf\nmigrator " in sections["EXAMPLES"], f"{name}: no example command"
        assert re.search(r"^\.TP\n\.B 130\n", sections["EXIT STATUS"], flags=re.M), name
        assert "NO_COLOR" in sections["ENVIRONMENT"], name
        requests = r"\.(TH|SH|TP|PP|B|RS|RE|nf|fi|ad|nh)\b"
        for section in sections.values():  # a text line starting with a dot is a request
            bad = [ln for ln in section.splitlines()
                   if ln.startswith(("'", ".")) and not re.match(requests, ln)]
            assert bad == [], f"{name}: {bad}"


def test_name_lines_are_the_first_sentence_of_the_help_whole(
        script: dict[str, Any], generated: dict[str, str]) -> None:
    for ctx in script["contexts"](script["eager_group"]()):
        name = ctx.command_path.replace(" ", "-") + ".1"
        sentence = script["first_sentence"](ctx.command.help)
        assert sentence.endswith(".") and len(sentence) > 20, (name, sentence)
        assert _plain(_sections(generated[name])["NAME"]).endswith(f" - {sentence}"), name
        first_line = ctx.command.help.strip().splitlines()[0].strip()
        assert sentence.startswith(first_line.split(".")[0]), name
    assert script["first_sentence"]("Start A, write\n    DIR/inventory.yaml.\n\n    More.") \
        == "Start A, write DIR/inventory.yaml."
    assert script["first_sentence"]("One. Two.") == "One."
    page = generated["migrator.1"]
    assert ("migrator \\- Migrate a Manatee shard from election\\-order topology to a "
            "persisted /state.") in page
    assert "..." not in _sections(page)["COMMANDS"]  # the listing is whole too


def test_exit_status_is_docs_commands_exit_codes(script: dict[str, Any],
                                                  generated: dict[str, str]) -> None:
    docs = (ROOT / "docs" / "commands.md").read_text()
    table = docs.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", table, flags=re.M)
    assert [int(code) for code, _ in rows] == [0, 1, 2, 3, 130]
    assert [(int(code), _markdown_words(text)) for code, text in rows] == [
        (code, _markdown_words(text)) for code, text in script["EXIT_CODES"]
    ], "docs/commands.md's exit codes changed: update EXIT_CODES in scripts/manpages.py"
    docs_words = _markdown_words(docs)
    assert _markdown_words(script["EXIT_NOTE"]) in docs_words
    extras: dict[str, str] = script["EXIT_EXTRAS"]
    assert set(extras) == {"migrator inventory check", "migrator inventory discover",
                           "migrator sandbox verify", "migrator journal restore",
                           "migrator fleet run"}
    for path, text in extras.items():
        if path != "migrator journal restore":
            assert f"`{path.removeprefix('migrator ')}` {text}" in docs_words, path
    assert "a readable journal is never rewritten (exit 3)" in docs_words
    for code, meaning in script["EXIT_CODES"]:
        plain = _plain(script["roff"](meaning))
        for name, page in generated.items():
            assert plain in _plain(_sections(page)["EXIT STATUS"]), (name, code)
    for path, text in extras.items():
        page = generated[path.replace(" ", "-") + ".1"]
        assert _plain(script["roff"](text)) in _plain(_sections(page)["EXIT STATUS"]), path
        assert _plain(script["roff"](text)) in _plain(
            _sections(generated["migrator.1"])["EXIT STATUS"])
    assert "exits" not in _sections(generated["migrator-run.1"])["EXIT STATUS"]


# How the code reads the environment, and what each form names.
_NAMED_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|os\.environ\.setdefault)\(\s*["']([A-Z_][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z_][A-Z0-9_]*)["']\s*\]"""
    r"""|["']([A-Z_][A-Z0-9_]*)["']\s+(?:not\s+)?in\s+os\.environ"""
    r"""|envvar\s*=\s*["']([A-Z_][A-Z0-9_]*)["']""")
_WHOLE_ENVIRONMENT = re.compile(r"dict\(os\.environ\)|os\.environ\.copy\(\)")
_IMPLIED = {  # standard-library calls that read the environment for the tool's own ends
    re.compile(r"\.expanduser\(|Path\.home\(|os\.path\.expanduser\("): {"HOME"},
    re.compile(r"getpass\.getuser\("): {"LOGNAME", "USER"},
}


def _environment_read_by_the_code() -> tuple[set[str], list[str]]:
    """The variables ``migrator/`` reads, and the lines reading the environment in a way
    this test cannot name (which should be none)."""
    names: set[str] = set()
    unknown: list[str] = []
    for path in sorted((ROOT / "migrator").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            found = [n for match in _NAMED_READ.finditer(code) for n in match.groups() if n]
            names.update(found)
            for pattern, implied in _IMPLIED.items():
                if pattern.search(code):
                    names.update(implied)
            if re.search(r"\benviron\b|getenv|envvar", code) and not found \
                    and not _WHOLE_ENVIRONMENT.search(code):
                unknown.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return names, unknown


def test_environment_is_every_variable_the_code_reads(script: dict[str, Any],
                                                      generated: dict[str, str]) -> None:
    read, unknown = _environment_read_by_the_code()
    assert unknown == [], f"environment reads the test cannot name: {unknown}"
    assert {"ZK_IPS", "SHARD", "MIGRATOR_AUDIT_DIR", "XDG_STATE_HOME", "NO_COLOR"} <= read
    group = script["eager_group"]()
    for ctx in script["contexts"](group):  # click's own envvar= options, if any
        read.update(p.envvar for p in ctx.command.params if isinstance(p.envvar, str))
    completion = f"_{group.name.upper()}_COMPLETE"  # click's shell completion variable
    documented = {n for key in script["ENVIRONMENT"] for n in key.split(", ")}
    assert documented == read | {completion}, (
        "ENVIRONMENT in scripts/manpages.py is not what migrator/ reads: "
        f"undocumented {sorted(read - documented)}, "
        f"not read {sorted(documented - read - {completion})}")
    main_page = _plain(_sections(generated["migrator.1"])["ENVIRONMENT"])
    for name in documented:
        assert name in main_page, name
    # a command's page lists what affects it: ZK_IPS where -z/--zk is an option
    for ctx in script["contexts"](group):
        page = _sections(generated[ctx.command_path.replace(" ", "-") + ".1"])["ENVIRONMENT"]
        has_zk = any(p.name == "zk" for p in ctx.command.params)
        if ctx.command_path != "migrator":
            assert (".B ZK_IPS" in page) == has_zk, ctx.command_path
            assert (".B SHARD" in page) == has_zk, ctx.command_path
    assert ".B MIGRATOR_AUDIT_DIR" in _sections(generated["migrator-run.1"])["ENVIRONMENT"]
    for variable in script["ENVIRONMENT"].values():  # every command named exists
        for path in variable.affects:
            assert path.startswith("@") or f"{path.replace(' ', '-')}.1" in generated, path


def _command_line(example: str) -> list[str]:
    """An example's words after `migrator`, without environment assignments before it or
    a pipe or redirection after it."""
    words = shlex.split(example)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)
    for stop in ("|", ">", ">>", "&&", ";"):
        if stop in words:
            words = words[:words.index(stop)]
    assert words[0] == "migrator", example
    return words[1:]


def test_every_example_is_a_command_line_the_command_accepts(script: dict[str, Any]) -> None:
    group = script["eager_group"]()
    examples: dict[str, tuple[tuple[str, str], ...]] = script["EXAMPLES"]
    paths = {ctx.command_path for ctx in script["contexts"](group)}
    assert set(examples) <= paths, sorted(set(examples) - paths)
    top_level = {"migrator"} | {f"migrator {name}" for name in group.commands}
    thin = [p for p in top_level if len(examples.get(p, ())) < 2]
    assert thin == [], f"top-level commands with too few examples: {thin}"
    assert {"migrator sandbox rehearse --dir /var/tmp/sb", "migrator plan --inventory inv.yaml",
            "migrator run --inventory inv.yaml", "migrator resume --inventory inv.yaml",
            "migrator rollback --inventory inv.yaml",
            "migrator report --inventory inv.yaml"} <= {c for _, c in examples["migrator"]}
    for path, entries in examples.items():
        for _text, example in entries:
            args = _command_line(example)
            command: click.Command = group
            ctx = click.Context(group, info_name="migrator")
            while isinstance(command, click.Group) and args and args[0] in command.commands:
                command = command.commands[args[0]]
                ctx = click.Context(command, info_name=args.pop(0), parent=ctx)
            assert not isinstance(command, click.Group), f"{path}: `{example}`: no command"
            try:
                command.make_context(ctx.info_name, list(args), parent=ctx.parent)
            except click.UsageError as exc:
                pytest.fail(f"{path}: `{example}`: {exc.format_message()}")


def test_a_command_without_examples_gets_one_from_its_usage(script: dict[str, Any]) -> None:
    @click.command()
    @click.option("--dir", "directory", required=True, type=click.Path())
    @click.option("--quiet", is_flag=True)
    @click.argument("zone")
    def poke(directory: str, quiet: bool, zone: str) -> None:
        """Poke ZONE."""

    parent = click.Context(click.Group("migrator"), info_name="migrator")
    ctx = click.Context(poke, info_name="poke", parent=parent)
    text, example = script["usage_example"](ctx)
    assert example == "migrator poke --dir PATH ZONE" and text
    assert "migrator poke \\-\\-dir PATH ZONE" in "\n".join(script["examples"](ctx))
