"""Generate the man pages (migrator.1, migrator-<command>.1, ...) from the click commands.

    .venv/bin/python scripts/manpages.py [TARGET_DIR]     # default: man/man1

One page per command and subcommand, from the same help texts and options `--help`
shows, so the pages never drift from the program. The pages are committed
(``man/man1``), a test (tests/test_manpages.py) checks they are what this script writes
now, a wheel ships them in its data (``share/man/man1``), and `scripts/setup.sh`
installs them where ``man migrator`` finds them.

Decisions:

- click-man renders the skeleton (``.TH``, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS:
  its ``ManPage``), but this script walks the commands itself instead of calling
  ``write_man_pages``: click-man's NAME line and COMMANDS entries are click's short
  help cut at 45 characters (``Migrate a Manatee shard from...``, and click 8.2
  deprecates the function it uses for that). Here both are the command's full first
  sentence of its help (``first_sentence``), kept verbatim with its full stop. The
  ``migrator`` group registers its commands lazily (for start-up time), so the pages
  are generated from an eager copy of the group holding every command
  (``eager_group``).
- Texts are escaped for roff here (a hyphen is ``\\-``, so options and commands copied
  from a rendered page are ASCII; a line never starts with a control character), and
  a command's epilog is part of its DESCRIPTION. The sections added here are set
  ragged right without hyphenation (``.ad l``, ``.nh``): their paths and command
  lines are neither split nor stretched.
- A page's ``.TH`` title is its name (``MIGRATOR-SANDBOX-UP``) in the "migrator
  Manual", not click-man's "MIGRATOR SANDBOX UP" in a "migrator sandbox up Manual"
  (a header wider than 80 columns). The page of a command removed since is deleted
  from TARGET_DIR (only ``migrator.1`` and ``migrator-*.1`` are ever touched there).
- Every page then has EXIT STATUS, ENVIRONMENT and EXAMPLES sections (and SEE ALSO on
  the pages of subcommands), made from the tables below, which are data: adding a
  command adds no code here.
- EXIT STATUS: ``EXIT_CODES`` is docs/commands.md's "Exit codes" table word for word
  (a test compares them), on every page, because every command follows it; then
  ``EXIT_EXTRAS``, the meanings a few commands add (the sentence below that table,
  and `journal restore`'s exit 3 for a readable journal), on their own pages and all
  of them on migrator(1).
- ENVIRONMENT: ``ENVIRONMENT`` lists every variable the tool reads, with the commands
  it affects. migrator(1) lists them all; a command's page lists those that affect
  it. "Reads" means: read by name in ``migrator/`` (``os.environ``), plus HOME (``~``
  expanded: the SSH files, the inventory's paths, the audit copies' default), LOGNAME
  and USER (Python's ``getpass.getuser``: the operator recorded in the journal and the
  lock, the default SSH user), and click's completion variable ``_MIGRATOR_COMPLETE``
  (docs/commands.md's completion). Not listed: PATH, TMPDIR and the environment the
  sandbox passes whole to its processes, and what libraries read for themselves
  (rich: TERM, COLUMNS...); nor ``MIGRATOR_TEST_WORKERS``, which only
  ``scripts/test.sh`` reads. A test greps ``migrator/`` for environment reads and
  compares them with this table.
- EXAMPLES: ``EXAMPLES`` holds a few realistic examples per command (migrator(1):
  the README's quick start and tour); a command without any gets one made from its
  usage (its required options and arguments, ``usage_example``). A test parses every
  example with the command it names, so an example with an unknown option fails.
- Where ``man`` finds them: `scripts/setup.sh` copies them into
  ``/usr/local/share/man/man1``, on man-db's default search path on Debian, so ``man
  migrator`` works in any shell after the README's set-up, with no MANPATH and whether
  or not ``.venv/bin`` is on PATH (setup.sh runs as root anyway). Not chosen: links in
  ``.venv/share/man/man1``, which man-db finds only while ``.venv/bin`` is on PATH (it
  looks in ``../share/man`` next to each PATH directory) or with MANPATH set; that is
  where a wheel installed in a virtualenv puts them, and how ``man`` finds those.
  From a checkout: ``man -l man/man1/migrator.1``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from inspect import cleandoc
from pathlib import Path

import click

# docs/commands.md "Exit codes", word for word (tests/test_manpages.py compares them)
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (1, "a step or verification failed, or a wait stopped early because it cannot succeed; "
        "a zone's SSH connection ended under a call (resumable); stdout's reader went away "
        "(a broken pipe); or an internal error (rerun with `--debug`)"),
    (2, "bad input: usage, configuration, playbook, inventory, unknown shard, unreachable "
        "ZooKeeper, election data a backfill would copy into `/state` that is not what a "
        "manatee peer writes; during a run, ZooKeeper not back within twice the session "
        "timeout, or a new session in which the lock or the journal was taken by someone else (the "
        "message gives the resume command)"),
    (3, "refused for safety: the pre-flight check (nothing changed), a precondition, a "
        "conflict (the cluster changed under us), a write to `/state` the run did not make, "
        "the watchdog, a lock (also for expert writes during a run), malformed znodes, an "
        "unexpected topology, a confirmation that was declined or could not be asked (no "
        "terminal, or standard input ended)"),
    (130, "interrupted (Ctrl-C), or stopped at the next safe point as asked (SIGUSR1; a "
          "fleet's stop when another shard stops)"),
)
EXIT_NOTE = ("Errors are one paragraph on stderr naming the problem and the fix; no "
             "traceback unless `--debug`.")
# what a command adds to EXIT_CODES (docs/commands.md, below the table)
EXIT_EXTRAS: dict[str, str] = {
    "migrator inventory check": "exits 1 when a zone is not fine and 3 when a host key was "
                                "refused",
    "migrator inventory discover": "exits 2 when something cannot be found or a headnode "
                                   "command does not answer within `ssh.command_timeout` "
                                   "(the command is ended on the headnode) and 3 when not "
                                   "confirmed",
    "migrator sandbox verify": "exits 1 when an acknowledged write is lost or a peer forked",
    "migrator fleet run": "exits 0 only when every shard to run ended migrated, else with "
                          "the first other shard's exit status (1 when it was lost or "
                          "never started)",
    "migrator journal restore": "exits 3 for a readable journal: a readable journal is never "
                                "rewritten",
}

ALL = "@all"  # every command
SHARD_OPTIONS = "@shard-options"  # every command taking -z/--zk and -s/--shard
MARKERS = {ALL: "every command",
           SHARD_OPTIONS: "every command that takes `--zk` and `--shard`"}


@dataclass(frozen=True)
class Variable:
    meaning: str
    affects: tuple[str, ...]  # command paths ("migrator run"), ALL or SHARD_OPTIONS


SSH_COMMANDS = ("migrator status", "migrator plan", "migrator run", "migrator resume",
                "migrator rollback", "migrator rebuild-deposed", "migrator inventory check",
                "migrator inventory discover")
JOURNAL_WRITERS = ("migrator plan", "migrator run", "migrator resume", "migrator rollback",
                   "migrator rebuild-deposed")
ENVIRONMENT: dict[str, Variable] = {
    "ZK_IPS": Variable("The ZooKeeper connection string, when `--zk` and `--inventory` are not "
                       "given.", (SHARD_OPTIONS,)),
    "SHARD": Variable("The shard, when `--shard` and `--inventory` are not given.",
                      (SHARD_OPTIONS,)),
    "MIGRATOR_AUDIT_DIR": Variable(
        "Where the local audit copies of journals go (default "
        "`$XDG_STATE_HOME/manatee-migrator`, else `~/.local/state/manatee-migrator`): "
        "`<dir>/<ensemble>/<shard>/journal.json` and `runs/NN-KIND.json` (one journal per "
        "run), which `migrator journal restore --from` and `migrator report --file` read.",
        JOURNAL_WRITERS),
    "XDG_STATE_HOME": Variable(
        "When `MIGRATOR_AUDIT_DIR` is not set, the audit copies go to "
        "`$XDG_STATE_HOME/manatee-migrator`.", JOURNAL_WRITERS),
    "HOME": Variable(
        "`~`: the SSH defaults `~/.ssh/config`, `~/.ssh/known_hosts` and the identities "
        "`~/.ssh/id_ed25519`, `~/.ssh/id_ecdsa`, `~/.ssh/id_rsa`; `~` in the inventory's "
        "paths; and the audit copies' `~/.local/state/manatee-migrator` when neither "
        "`MIGRATOR_AUDIT_DIR` nor `XDG_STATE_HOME` is set.",
        tuple(sorted({*SSH_COMMANDS, *JOURNAL_WRITERS}))),
    "LOGNAME, USER": Variable(
        "The operator recorded as user@host in the journal and the lock, and the SSH user "
        "when neither the inventory nor `~/.ssh/config` names one: the first set of "
        "`LOGNAME`, `USER` (then `LNAME`, `USERNAME`), else the account's name.",
        tuple(sorted({*SSH_COMMANDS, *JOURNAL_WRITERS}))),
    "NO_COLOR": Variable("No colour in tables (set to anything but the empty string); on a "
                         "terminal only, as piped output has none.", (ALL,)),
    "_MIGRATOR_COMPLETE": Variable(
        "Read by click: set to `bash_source`, `zsh_source` or `fish_source`, migrator prints "
        "its shell completion script instead of running (docs/commands.md, \"Shell "
        "completion and man pages\").", ("migrator",)),
}

INV = "inv.yaml"  # the README's name for a shard's inventory
SHARD_NAME = "1.moray.us-east.joyent.us"
ZK = "10.77.77.5:2181"
AUDIT_COPY = f"~/.local/state/manatee-migrator/{ZK}/{SHARD_NAME}"
# command path -> (what it does, the command line); the first words are `migrator` and
# the command's path, optionally after VAR=value assignments; a pipe or a redirection
# may follow.
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "migrator": (
        ("Rehearse first: bring up a local sandbox shard, walk the runbook's migration on "
         "it, tear it down (`bash scripts/rehearse.sh` in a checkout does it all with the "
         "step engine):", "migrator sandbox rehearse --dir /var/tmp/sb"),
        ("Check that every zone of the shard's inventory can be reached and has what a "
         "run needs:",
         f"migrator inventory check --inventory {INV}"),
        ("Plan: a dry run that writes nothing and takes no lock:",
         f"migrator plan --inventory {INV}"),
        ("Run the migration, asking before every write and every zone reprovision:",
         f"migrator run --inventory {INV}"),
        ("Resume after a crash, a Ctrl-C or a stop, from this or another machine:",
         f"migrator resume --inventory {INV}"),
        ("Roll back from wherever it stopped:", f"migrator rollback --inventory {INV}"),
        ("Where the shard stands, with `ZK_IPS` set as in a manatee zone:",
         f"migrator status --shard {SHARD_NAME}"),
        ("The report for the change ticket:", f"migrator report --inventory {INV}"),
    ),
    "migrator status": (
        ("Every shard of the ensemble with its mode:", f"migrator status --zk {ZK}"),
        ("One shard: each peer's role by election order and by /state, the migration under "
         "way, the lock holder and the zones' versions:",
         f"migrator status --inventory {INV}"),
        ("Keep a live view during the change window (Ctrl-C ends it):",
         f"migrator status --inventory {INV} --watch"),
        ("As manatee-adm takes them, from the environment, in JSON:",
         f"ZK_IPS={ZK} SHARD={SHARD_NAME} migrator status --json"),
    ),
    "migrator state": (
        ("The shard's /state as stored:", f"migrator state --inventory {INV}"),
        ("With its znode version, for a program:",
         f"migrator state --zk {ZK} --shard {SHARD_NAME} --json"),
    ),
    "migrator history": (
        ("The history records, oldest first, with a summary of each change:",
         f"migrator history --inventory {INV}"),
        ("The latest record as JSON (one object per line):",
         f"migrator history --inventory {INV} --json | tail -n 1"),
    ),
    "migrator backfill": (
        ("Create /state as `manatee-adm state-backfill` would, after showing it and asking:",
         f"migrator backfill --inventory {INV}"),
        ("In a script, once the state it shows has been reviewed:",
         f"migrator backfill --inventory {INV} --yes"),
    ),
    "migrator freeze": (
        ("Freeze the cluster state, recording why:",
         f"migrator freeze --inventory {INV} --reason 'CM-1234: manatee v2 migration'"),
        ("In a script, with the shard from the environment as manatee-adm takes it:",
         f"SHARD={SHARD_NAME} migrator freeze --zk {ZK} -r 'CM-1234' --yes"),
    ),
    "migrator unfreeze": (
        ("Unfreeze, after being told what that allows:",
         f"migrator unfreeze --inventory {INV}"),
        ("In a script:", f"migrator unfreeze --zk {ZK} --shard {SHARD_NAME} --yes"),
    ),
    "migrator delete-state": (
        ("Roll back by hand: delete /state (the shard name must be typed):",
         f"migrator delete-state --inventory {INV}"),
        ("Although a run holds the shard's lock (asks for the shard name, even with --yes):",
         f"migrator delete-state --inventory {INV} --override-lock"),
    ),
    "migrator inventory": (
        ("The inventory format, with a full example:", "migrator inventory format"),
        ("Build the inventory from a file naming only the headnode:",
         f"migrator inventory discover --inventory headnode.yaml --shard {SHARD_NAME}"),
        ("Reach every zone and report what a run needs:",
         f"migrator inventory check --inventory {SHARD_NAME}.yaml"),
    ),
    "migrator inventory format": (
        ("The inventory format, with a full example:", "migrator inventory format | less"),
        ("The headnode-only format `migrator inventory discover` reads:",
         "migrator inventory format --headnode"),
    ),
    "migrator inventory check": (
        ("Reach every zone and report what a run needs:",
         f"migrator inventory check --inventory {INV}"),
        ("The first time: record the host keys of zones never seen before (a changed key "
         "is still refused):", f"migrator inventory check --inventory {INV} "
         "--accept-new-host-keys"),
        ("For a program:", f"migrator inventory check --inventory {INV} --json"),
    ),
    "migrator inventory discover": (
        ("Build the inventory from the headnode and ZooKeeper; it is written to "
         f"{SHARD_NAME}.yaml once confirmed:",
         f"migrator inventory discover --inventory headnode.yaml --shard {SHARD_NAME}"),
        ("With the image to migrate to, to a chosen file, without asking:",
         f"migrator inventory discover --inventory headnode.yaml --shard {SHARD_NAME} "
         f"--migrate-to IMAGE_UUID --out {INV} --yes"),
    ),
    "migrator plan": (
        ("The dry run: playbook, steps, exact writes, what is done, expected write outages "
         "and the pre-flight verdict:", f"migrator plan --inventory {INV}"),
        ("Save it for the change ticket, then run exactly that plan:",
         f"migrator plan --inventory {INV} --out plan.json"),
        ("What `migrator rollback` would do:", f"migrator plan --inventory {INV} --rollback"),
        ("Upstream's revised order instead of the one chosen by the number of peers:",
         f"migrator plan --inventory {INV} --playbook three-node-frozen-primary"),
    ),
    "migrator run": (
        ("Migrate, with one \"proceed?\" and then every write and reprovision confirmed:",
         f"migrator run --inventory {INV}"),
        ("Execute a saved plan without prompts (refused if it is stale):",
         f"migrator run --inventory {INV} --plan plan.json"),
        ("In a script: answer every question, one JSON event per line on stdout:",
         f"migrator run --inventory {INV} --yes --json > run-events.jsonl"),
    ),
    "migrator resume": (
        ("Continue from the journal after a crash, a Ctrl-C or a stop:",
         f"migrator resume --inventory {INV}"),
        ("From another machine, when the first one died holding the lock (asks first):",
         f"migrator resume --inventory {INV} --break-lock"),
    ),
    "migrator playbooks": (
        ("The built-in playbooks:", "migrator playbooks list"),
        ("One playbook's steps and their explanations:", "migrator playbooks show three-node"),
        ("Check a playbook file before using it with --playbook:",
         "migrator playbooks validate my-playbook.yaml"),
    ),
    "migrator playbooks list": (
        ("The built-in playbooks:", "migrator playbooks list"),
        ("With every registered check and action:", "migrator playbooks list --checks"),
    ),
    "migrator playbooks show": (
        ("The runbook's three-node procedure:", "migrator playbooks show three-node"),
        ("As JSON:", "migrator playbooks show rollback-after-primary --json"),
    ),
    "migrator playbooks validate": (
        ("Schema, registered names and their parameters:",
         "migrator playbooks validate my-playbook.yaml"),
    ),
    "migrator fleet": (
        ("Discover every shard of the region, then plan it and save the plans:",
         "migrator fleet discover --inventory headnode.yaml --out us-east --migrate-to latest"),
        ("Migrate three shards at a time with their saved plans:",
         "migrator fleet run --fleet us-east/fleet.yaml --plan us-east/plans/fleet-plan.json "
         "--parallel 3"),
        ("From another terminal, during the change window:",
         "migrator fleet status --fleet us-east/fleet.yaml --watch"),
    ),
    "migrator fleet discover": (
        ("Every manatee shard the headnode and ZooKeeper know, an inventory each:",
         "migrator fleet discover --inventory headnode.yaml --out us-east --migrate-to latest"),
        ("Only the Moray shards 1 to 9:",
         "migrator fleet discover --inventory headnode.yaml --out us-east --shards '[1-9].moray.*'"),
    ),
    "migrator fleet plan": (
        ("One table for the fleet:", "migrator fleet plan --fleet us-east/fleet.yaml"),
        ("Confirm every computed /state once and save a plan per shard:",
         "migrator fleet plan --fleet us-east/fleet.yaml --out us-east/plans"),
    ),
    "migrator fleet run": (
        ("Three shards at a time, each shard's outage questions asked as they come:",
         "migrator fleet run --fleet us-east/fleet.yaml --parallel 3"),
        ("The saved plans, for a scripted change window:",
         "migrator fleet run --fleet us-east/fleet.yaml --plan us-east/plans/fleet-plan.json "
         "--parallel 3 --yes --json > fleet-events.jsonl"),
    ),
    "migrator fleet resume": (
        ("Continue every unfinished shard after a stop:",
         "migrator fleet resume --fleet us-east/fleet.yaml --parallel 3"),
    ),
    "migrator fleet status": (
        ("Every shard of the fleet: mode, run, step, lock holder, outages:",
         "migrator fleet status --fleet us-east/fleet.yaml"),
        ("A live view during the change window (Ctrl-C ends it):",
         "migrator fleet status --fleet us-east/fleet.yaml --watch"),
        ("For programs:", "migrator fleet status --fleet us-east/fleet.yaml --json"),
    ),
    "migrator fleet report": (
        ("The change ticket's report for the whole fleet (markdown):",
         "migrator fleet report --fleet us-east/fleet.yaml --out CM-1234.md"),
        ("For programs:", "migrator fleet report --fleet us-east/fleet.yaml --json"),
    ),
    "migrator sandbox": (
        ("ZooKeeper, three zones with v1 sitters, and a write client:",
         "migrator sandbox up --dir /var/tmp/sb --with-client"),
        ("Peers, roles, versions and the write outages seen:",
         "migrator sandbox status --dir /var/tmp/sb"),
        ("Stop it:", "migrator sandbox down --dir /var/tmp/sb"),
        ("Up, the runbook with the expert commands, down:",
         "migrator sandbox rehearse --dir /var/tmp/sb2"),
    ),
    "migrator sandbox up": (
        ("Three zones behind two compute nodes and a headnode, with a write client; every "
         "command then works against /var/tmp/sb/inventory.yaml:",
         "migrator sandbox up --dir /var/tmp/sb --with-client"),
        ("One zone with the simulated postgres (quicker), reached over its own sshd:",
         "migrator sandbox up --dir /var/tmp/sb --nodes 1 --pg sim --access ssh"),
        ("As from a laptop 25 ms from the datacenter:",
         "migrator sandbox up --dir /var/tmp/sb --latency 25"),
    ),
    "migrator sandbox down": (
        ("Stop every process the sandbox started:", "migrator sandbox down --dir /var/tmp/sb"),
    ),
    "migrator sandbox status": (
        ("Peers, roles, versions and the client's outage windows:",
         "migrator sandbox status --dir /var/tmp/sb"),
        ("As JSON:", "migrator sandbox status --dir /var/tmp/sb --json"),
    ),
    "migrator sandbox verify": (
        ("Every acknowledged write read back from the primary and the standbys:",
         "migrator sandbox verify --dir /var/tmp/sb"),
        ("Give slow standbys a minute to catch up:",
         "migrator sandbox verify --dir /var/tmp/sb --timeout 60"),
    ),
    "migrator sandbox reprovision": (
        ("Reprovision a zone to v2 (ZONE: a zone UUID from `migrator sandbox status`):",
         "migrator sandbox reprovision --dir /var/tmp/sb ZONE --to v2"),
    ),
    "migrator sandbox reprovision-status": (
        ("`running` while the zone's reprovision is under way, else `idle`:",
         "migrator sandbox reprovision-status --dir /var/tmp/sb ZONE"),
    ),
    "migrator sandbox stop-peer": (
        ("Kill a zone's sitter, to watch its ZooKeeper session time out:",
         "migrator sandbox stop-peer --dir /var/tmp/sb ZONE"),
    ),
    "migrator sandbox start-peer": (
        ("Start it again at its current version:",
         "migrator sandbox start-peer --dir /var/tmp/sb ZONE"),
    ),
    "migrator sandbox client": (
        ("Start the Moray-like writer that records outage windows:",
         "migrator sandbox client --dir /var/tmp/sb"),
        ("Stop it:", "migrator sandbox client --dir /var/tmp/sb --stop"),
    ),
    "migrator sandbox rehearse": (
        ("Up, the runbook's migration with the expert commands, down:",
         "migrator sandbox rehearse --dir /var/tmp/sb"),
        ("The one-node procedure, leaving the sandbox running to look around:",
         "migrator sandbox rehearse --dir /var/tmp/sb --nodes 1 --keep"),
    ),
    "migrator rollback": (
        ("See how it would roll back, then do it:",
         f"migrator plan --inventory {INV} --rollback"),
        ("", f"migrator rollback --inventory {INV}"),
        ("In a script, one JSON event per line on stdout:",
         f"migrator rollback --inventory {INV} --yes --json"),
    ),
    "migrator rebuild-deposed": (
        ("`manatee-adm rebuild` the deposed former primary, then check it rejoins as an "
         "async:", f"migrator rebuild-deposed --inventory {INV}"),
        ("In a script, one JSON event per line on stdout:",
         f"migrator rebuild-deposed --inventory {INV} --yes --json"),
    ),
    "migrator journal": (
        ("Put back a damaged journal from this machine's audit copy:",
         f"migrator journal restore --inventory {INV} --from {AUDIT_COPY}/journal.json"),
        ("What the copy holds, as a report, before putting it back:",
         f"migrator report --inventory {INV} --file {AUDIT_COPY}/journal.json"),
    ),
    "migrator journal restore": (
        ("Put back a missing or damaged journal from this machine's audit copy, after "
         "showing both and the shard name typed:",
         f"migrator journal restore --inventory {INV} --from {AUDIT_COPY}/journal.json"),
        ("From a run's own copy, when journal.json itself is damaged:",
         f"migrator journal restore --inventory {INV} --from {AUDIT_COPY}/runs/01-migration.json"),
    ),
    "migrator report": (
        ("The report for the change ticket (markdown):",
         f"migrator report --inventory {INV} > CM-1234.md"),
        ("For programs:", f"migrator report --inventory {INV} --format json"),
        ("A completed rollback archives the journal: list the archives, read the latest:",
         f"migrator report --inventory {INV} --list-archived"),
        ("", f"migrator report --inventory {INV} --archive latest"),
        ("From this machine's audit copy, without ZooKeeper's journal:",
         f"migrator report --inventory {INV} --file {AUDIT_COPY}/journal.json"),
    ),
}


def eager_group() -> click.Group:
    from migrator.cli import cli

    made = eager(cli, click.Context(cli, info_name="migrator"))
    assert isinstance(made, click.Group)
    made.name = "migrator"  # click derives the completion variable from it
    return made


def eager(command: click.Command, ctx: click.Context) -> click.Command:
    """``command`` with every subcommand of a lazily listed group (the top level,
    `migrator fleet`) imported, as a plain click group holding them."""
    if not isinstance(command, click.Group):
        return command
    commands = {}
    # a plain group keeps its commands' order; a lazy one lists them (sorted)
    for name in command.commands or command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        assert sub is not None, name
        commands[name] = eager(sub, click.Context(sub, info_name=name, parent=ctx))
    return click.Group(name=command.name, commands=commands, params=list(command.params),
                       help=command.help, context_settings=command.context_settings,
                       hidden=command.hidden, epilog=command.epilog,
                       invoke_without_command=command.invoke_without_command)


def first_sentence(help_text: str | None) -> str:
    """The first sentence of a command's help, whole (its first paragraph's words up to
    the first full stop, question or exclamation mark that ends a word)."""
    paragraph = cleandoc(help_text or "").split("\f")[0].split("\n\n")[0]
    words = " ".join(paragraph.split())
    found = re.match(r"(.+?[.!?])(?=\s|$)", words)
    return found.group(1) if found else words


def escaped(text: str) -> str:
    """Plain text for roff: backslashes and hyphens escaped, no control line."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.split("\n"))


def roff(text: str) -> str:
    """``escaped``, with `code` in bold."""
    return re.sub(r"`([^`]+)`", r"\\fB\1\\fR", escaped(text))


def contexts(command: click.Command, parent: click.Context | None = None,
             name: str = "migrator") -> Iterator[click.Context]:
    ctx = click.Context(command, info_name=name, parent=parent)
    yield ctx
    for sub_name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from contexts(sub, ctx, sub_name)


def shard_option_commands(group: click.Group) -> set[str]:
    return {ctx.command_path for ctx in contexts(group)
            if any(p.name == "zk" for p in ctx.command.params)}


def affected(variable: Variable, path: str, with_shard_options: set[str]) -> bool:
    return (ALL in variable.affects or path in variable.affects
            or (SHARD_OPTIONS in variable.affects and path in with_shard_options))


def usage_example(ctx: click.Context) -> tuple[str, str]:
    """An example for a command without any in ``EXAMPLES``: its usage, with its
    required options and arguments."""
    words = [ctx.command_path]
    for param in ctx.command.params:
        if isinstance(param, click.Argument):
            words.append(param.make_metavar(ctx))
        elif isinstance(param, click.Option) and param.required:
            words += [max(param.opts, key=len), param.make_metavar(ctx)]
    if isinstance(ctx.command, click.Group):
        words.append("COMMAND [ARGS]...")
    return "The command with what it requires (see OPTIONS):", " ".join(words)


def exit_status(path: str) -> list[str]:
    # from here on (paths, commands, options): ragged right and no hyphenation
    lines = [".SH EXIT STATUS", ".ad l", ".nh"]
    for code, meaning in EXIT_CODES:
        lines += [".TP", f".B {code}", roff(meaning)]
    extras = sorted(EXIT_EXTRAS.items()) if path == "migrator" else (
        [(path, EXIT_EXTRAS[path])] if path in EXIT_EXTRAS else [])
    if extras:
        lead = "A few commands add their own meaning: " if path == "migrator" else ""
        lines += [".PP", roff(lead + "; ".join(f"`{p}` {text}" for p, text in extras) + ".")]
    lines += [".PP", roff(EXIT_NOTE)]
    return lines


def environment(path: str, with_shard_options: set[str]) -> list[str]:
    lines = [".SH ENVIRONMENT"]
    for name, variable in ENVIRONMENT.items():
        if path != "migrator" and not affected(variable, path, with_shard_options):
            continue
        text = variable.meaning
        if path == "migrator":
            named = [p for p in variable.affects if not p.startswith("@")]
            said = [MARKERS[p] for p in variable.affects if p.startswith("@")]
            if named != ["migrator"]:
                said += [f"`{p}`" for p in named]
            if said:
                text += f" Read by {said[0]}." if len(said) == 1 else (
                    f" Read by {', '.join(said[:-1])} and {said[-1]}.")
        lines += [".TP", f".B {escaped(name)}", roff(text)]
    if path != "migrator":
        lines += [".PP", roff("`migrator(1)` lists every variable migrator reads.")]
    return lines


def examples(ctx: click.Context) -> list[str]:
    lines = [".SH EXAMPLES"]
    for text, command in EXAMPLES.get(ctx.command_path) or (usage_example(ctx),):
        if text:
            lines += [".PP", roff(text)]
        lines += [".PP", ".RS 4", ".nf", escaped(command), ".fi", ".RE"]
    return lines


def see_also(ctx: click.Context) -> list[str]:
    parents = []
    parent = ctx.parent
    while parent is not None:
        parents.append(parent.command_path.replace(" ", "-"))
        parent = parent.parent
    if not parents:
        return []
    return [".SH SEE ALSO", ", ".join(f"\\fB{escaped(p)}\\fR(1)" for p in reversed(parents))]


def page(ctx: click.Context, version: str, with_shard_options: set[str]) -> str:
    from click_man.man import ManPage

    command = ctx.command
    man = ManPage(ctx.command_path)
    man.version = version
    man.short_help = escaped(first_sentence(command.help))
    description = cleandoc(command.help or "").split("\f")[0]
    if command.epilog:
        description += "\n\n" + cleandoc(command.epilog)
    man.description = escaped(description)
    man.synopsis = " ".join(command.collect_usage_pieces(ctx))
    records = [p.get_help_record(ctx) for p in command.params
               if isinstance(p, click.Option) and not p.hidden]
    man.options = [(opts, escaped(help_text)) for opts, help_text in filter(None, records)]
    if isinstance(command, click.Group):
        man.commands = [(name, escaped(first_sentence(sub.help)))
                        for name, sub in command.commands.items() if not sub.hidden]
    # click-man's title is "MIGRATOR INVENTORY DISCOVER" in a "migrator inventory
    # discover Manual" (a header too wide for 80 columns), and its NAME line keeps the
    # hyphens of a command's name unescaped: here the page's name in both
    name = ctx.command_path.replace(" ", "-")
    given = ctx.command_path.replace(" ", r"\-")
    _title, rest = str(man).split("\n", 1)
    skeleton = (f'.TH "{name.upper()}" "1" "{man.date}" "{version}" "migrator Manual"\n'
                + rest.replace(f".SH NAME\n{given} ", f".SH NAME\n{escaped(name)} ", 1))
    lines = [skeleton.rstrip("\n"), *exit_status(ctx.command_path),
             *environment(ctx.command_path, with_shard_options), *examples(ctx),
             *see_also(ctx)]
    return "\n".join(lines) + "\n"


def write_pages(group: click.Group, target: Path, version: str) -> list[str]:
    with_shard_options = shard_option_commands(group)
    written = []
    for ctx in contexts(group):
        name = ctx.command_path.replace(" ", "-") + ".1"
        (target / name).write_text(page(ctx, version, with_shard_options))
        written.append(name)
    return written


def main(argv: list[str]) -> int:
    from migrator import __version__

    target = Path(argv[0] if argv else "man/man1")
    target.mkdir(parents=True, exist_ok=True)
    written = write_pages(eager_group(), target, __version__)
    ours = {p.name for p in (*target.glob("migrator.1"), *target.glob("migrator-*.1"))}
    stale = sorted(ours - set(written))
    for name in stale:  # the page of a command renamed or removed since
        (target / name).unlink()
    print(f"manpages: {len(written)} pages in {target}"
          + (f" (removed {', '.join(stale)})" if stale else ""), file=sys.stderr)
    return 0 if "migrator.1" in written else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
