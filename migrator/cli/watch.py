"""`migrator status --shard S --watch`: a live view of one shard, like `patronictl list -W`.

Driven by ZooKeeper watches, not polling: the election's children, ``/state``,
the migration journal and the run lock each wake the view when they change
(and a change of the ZooKeeper connection's state too). Each wake re-reads the
shard once and redraws a rich ``Live``; zone versions (with an inventory) are
asked again only when the election changed, since a reprovision is what
changes them. Ctrl-C ends the watch; that is its normal end (exit status 0).
"""

from __future__ import annotations

import io
import time
from typing import Any

from migrator import cancellation
from migrator.cli.shardview import render_shard
from migrator.commands import read
from migrator.commands.progress import read_progress
from migrator.commands.wakes import Wakes, watch_journal, watch_lock
from migrator.commands.zone_views import zone_versions
from migrator.ui.output import Output
from migrator.zk import paths
from migrator.zk.faults import is_fault
from migrator.zk.watches import watch_election, watch_state


def render_text(client: Any, shard: str, inventory: Any,
                versions: dict[str, str] | None) -> tuple[str, dict[str, str] | None, Any]:
    """The one-shard view as plain text (the same as `status --shard` piped)."""
    result = read.shard_status(client, shard)
    underway = read_progress(client, shard)
    buffer = io.StringIO()
    render_shard(Output(stream=buffer), result, underway, versions)
    return buffer.getvalue(), versions, result


def watch_status(client: Any, shard: str, inventory: Any, *, stream: Any = None) -> int:
    """Run the live view until Ctrl-C; returns the number of redraws."""
    # deferred: rich costs ~30 ms to import; only terminal views pay it
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    read.shard_status(client, shard)  # an unknown shard is refused before the view starts
    wakes = Wakes()
    client.add_listener(lambda _state: wakes.poke() and None)
    watch_election(client, shard, lambda _c: wakes.poke(election=True))
    watch_state(client, shard, lambda _d: wakes.poke())
    watch_journal(client, shard, wakes)
    watch_lock(client, shard, wakes)
    console = Console(file=stream, highlight=False) if stream is not None else \
        Console(highlight=False)
    versions: dict[str, str] | None = None
    redraws = 0

    def view() -> Any:
        nonlocal versions
        if inventory is not None and wakes.election_changed:
            snapshot_zones = [r.zone_id for r in read.shard_status(client, shard).rows]
            versions = zone_versions(inventory, snapshot_zones)
        wakes.election_changed = False
        text, _, _ = render_text(client, shard, inventory, versions)
        state = getattr(client, "state", "?")
        footer = (f"updated {time.strftime('%H:%M:%S')}; {wakes.count} ZooKeeper change(s) "
                  f"seen; ZooKeeper {state}; Ctrl-C to stop")
        return Group(Text(text.rstrip("\n")), Text(footer, style="dim"))

    last: Any = None

    def view_or_last() -> Any:
        """A watch must outlive a ZooKeeper pause: the last frame, said to be stale, until
        the connection listener wakes the view again."""
        nonlocal last
        try:
            last = view()
        except Exception as exc:
            if not is_fault(exc) or last is None:
                raise
            stale = Text(f"ZooKeeper {type(exc).__name__} at {time.strftime('%H:%M:%S')}: "
                         "the view above may be stale; it redraws once ZooKeeper answers",
                         style="yellow")
            return Group(last, stale)
        return last

    try:
        with Live(view_or_last(), console=console, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while True:
                wakes.event.wait()  # a watch delivery; Ctrl-C interrupts the wait
                wakes.event.clear()
                live.update(view_or_last(), refresh=True)
                redraws += 1
                # a Ctrl-C that kazoo swallowed while the view was read (it then shows as
                # a closed connection) stops the watch now, not at the next change
                cancellation.current().check()
    except KeyboardInterrupt:
        console.print("Stopped watching shard " + paths.check_shard_name(shard) + ".")
    return redraws
