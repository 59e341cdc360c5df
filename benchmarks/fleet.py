"""A fleet's plan and run against one shard's, side by side (issue 23).

    .venv/bin/python benchmarks/fleet.py [--runs N] [--run-runs R] [--no-run]

Prints, as figure, anchor, ratio and target:

  migrator fleet plan, 10 shards of three zones     <= 3 s
      anchor: one shard's `migrator plan --inventory` (the ratio is what ten shards
      cost against one); medians of N interleaved fresh processes
  migrator fleet run --parallel 3, three three-node shards
                                                    <= 1.5 x one shard's `migrator run`
      anchor: `migrator run --yes --inventory` of one three-node shard on a one-shard
      sandbox; medians of R runs (each takes tens of seconds), a fresh sandbox for
      every measurement, its bring-up not timed. Measured three ways: every zone on a
      compute node of its own (nine nodes: the target's case), all nine zones on two
      shared nodes (shards whose zones share a node take turns in their write
      outages: the fleet's outage locks), and shared with --allow-shared-nodes.

A sandbox fleet holds at most 8 shards, and two fleet sandboxes would both name their
shards 1.moray.sandbox.test upwards (a fleet file lists a shard once), so the ten
shards are one 8-shard fleet sandbox and two one-shard sandboxes named
9.moray.sandbox.test and 10.moray.sandbox.test. All on simulated postgres, the zones
behind compute nodes and a headnode (`--access zlogin`), everything on 127.0.0.0/8
and stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.manage import UpOptions, down, up

MIGRATOR = [sys.executable, "-m", "migrator"]
PLAN_TARGET_SECONDS = 3.0
RUN_TARGET_RATIO = 1.5
# a three-node run waits out a few reprovisions and takeovers; far beyond it is a hang
RUN_TIMEOUT_SECONDS = 900.0


@contextmanager
def sandbox(directory: Path, options: UpOptions) -> Iterator[SandboxConfig]:
    config = up(directory, options)
    try:
        yield config
    finally:
        down(directory)


def inventories(config: SandboxConfig) -> list[tuple[str, Path]]:
    """Each shard of a sandbox (one, or a fleet's) and its inventory."""
    if config.shards:
        return [(shard, config.shard_directory(shard) / "inventory.yaml")
                for shard in config.shards]
    return [(config.shard, config.directory / "inventory.yaml")]


def write_fleet(path: Path, name: str, shards: Sequence[tuple[str, Path]]) -> Path:
    path.write_text(yaml.safe_dump(
        {"fleet": name,
         "shards": [{"shard": shard, "inventory": str(inventory)}
                    for shard, inventory in shards]},
        sort_keys=False))
    return path


def timed(argv: Sequence[str], env: dict[str, str], timeout: float = 120.0) -> float:
    """Wall time of one fresh process; its output is shown only when it fails, since a
    failed command's time is no figure."""
    started = time.perf_counter()
    result = subprocess.run(list(argv), capture_output=True, text=True, env=env,
                            timeout=timeout, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv[2:])} exited {result.returncode}:\n"
                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return wall


def environment(tmp: Path) -> dict[str, str]:
    # audit copies and transcripts in the scratch folder, not the operator's state dir
    return {**os.environ, "MIGRATOR_AUDIT_DIR": str(tmp / "audit"), "NO_COLOR": "1"}


def row(label: str, figure: float, anchor_label: str, anchor: float, target: str,
        met: bool) -> None:
    print(f"{label:<44} {figure:7.2f} s   {anchor_label:<34} {anchor:7.2f} s   "
          f"ratio {figure / anchor:5.2f}  target {target}  {'met' if met else 'NOT MET'}")


def bench_plan(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="migrator-bench-fleet-") as name, \
            ExitStack() as stack:
        tmp = Path(name)
        started = time.perf_counter()
        eight = stack.enter_context(sandbox(tmp / "eight", UpOptions(
            nodes=3, pg="sim", access="zlogin", shards=8)))
        ninth = stack.enter_context(sandbox(tmp / "ninth", UpOptions(
            nodes=3, pg="sim", access="zlogin", shard="9.moray.sandbox.test")))
        tenth = stack.enter_context(sandbox(tmp / "tenth", UpOptions(
            nodes=3, pg="sim", access="zlogin", shard="10.moray.sandbox.test")))
        shards = inventories(eight) + inventories(ninth) + inventories(tenth)
        fleet = write_fleet(tmp / "fleet.yaml", "bench", shards)
        print(f"sandboxes up (8-shard fleet + two one-shard): "
              f"{time.perf_counter() - started:.1f} s (not timed below)")
        env = environment(tmp)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(runs):  # interleaved: a busy moment of the machine falls on both
            ours.append(timed([*MIGRATOR, "fleet", "plan", "--fleet", str(fleet)], env))
            theirs.append(timed([*MIGRATOR, "plan", "--inventory", str(shards[0][1])], env))
    figure, anchor = statistics.median(ours), statistics.median(theirs)
    row(f"fleet plan, {len(shards)} shards of three zones", figure,
        "plan --inventory, one shard", anchor, f"<= {PLAN_TARGET_SECONDS:g} s",
        figure <= PLAN_TARGET_SECONDS)


def one_shard_run(tmp: Path) -> float:
    with sandbox(tmp / "one", UpOptions(nodes=3, pg="sim", access="zlogin")) as config:
        return timed([*MIGRATOR, "run", "--yes", "--inventory",
                      str(config.directory / "inventory.yaml")],
                     environment(tmp), RUN_TIMEOUT_SECONDS)


def fleet_run(tmp: Path, extra: Sequence[str], compute_nodes: int) -> float:
    with sandbox(tmp / "three", UpOptions(nodes=3, pg="sim", access="zlogin", shards=3,
                                          compute_nodes=compute_nodes)) as config:
        fleet = write_fleet(tmp / "fleet.yaml", "bench", inventories(config))
        return timed([*MIGRATOR, "fleet", "run", "--fleet", str(fleet), "--parallel", "3",
                      "--yes", *extra], environment(tmp), RUN_TIMEOUT_SECONDS)


def bench_run(runs: int) -> None:
    # (extra options, compute nodes): nine nodes give every zone its own, so no two
    # shards share one; on two, every shard shares both with the others
    variants: dict[str, tuple[list[str], int]] = {
        "fleet run --parallel 3, 3x three-node": ([], 9),
        "  on 2 shared compute nodes": ([], 2),
        "  shared, --allow-shared-nodes": (["--allow-shared-nodes"], 2),
    }
    anchors: list[float] = []
    figures: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(runs):
        for label, (extra, nodes) in [("", ([], 2)), *variants.items()]:
            tmp = Path(tempfile.mkdtemp(prefix="migrator-bench-fleet-"))
            try:
                if label:
                    figures[label].append(fleet_run(tmp, extra, nodes))
                else:
                    anchors.append(one_shard_run(tmp))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    anchor = statistics.median(anchors)
    for label, times in figures.items():
        figure = statistics.median(times)
        row(label, figure, "run --yes, one three-node shard", anchor,
            f"<= {RUN_TARGET_RATIO:g} x", figure / anchor <= RUN_TARGET_RATIO)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5,
                        help="fresh processes per plan figure (medians)")
    parser.add_argument("--run-runs", type=int, default=1,
                        help="measurements per run figure (each tens of seconds)")
    parser.add_argument("--no-run", action="store_true", help="skip the run figures")
    args = parser.parse_args()
    print(f"plan: medians of {args.runs} interleaved fresh processes; "
          + ("run: skipped" if args.no_run else
             f"run: medians of {args.run_runs}, a fresh sandbox each"))
    bench_plan(args.runs)
    if not args.no_run:
        bench_run(args.run_runs)


if __name__ == "__main__":
    main()
