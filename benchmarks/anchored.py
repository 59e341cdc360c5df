"""The migrator beside the tools an operator already waits for, measured in one run.

    .venv/bin/python benchmarks/anchored.py [--runs N]

Each row times both commands as fresh processes, interleaved (one of each in turn,
so a busy moment of the machine falls on both), and prints their medians and the
ratio. Targets (issue 19), as ratios:

  migrator --help               <= 0.5 x  upstream `manatee-adm --help`
  migrator status -z ZK -s S    <= 0.8 x  upstream `manatee-adm zk-active -z ZK -s S`
                                          (same ZooKeeper, a shard of three peers)
  migrator plan (3-zone sandbox) <= 0.5 x `ansible-playbook --check` of a one-task
                                          playbook on localhost

The anchors are not part of the project; install them outside the checkout and name
them (docs/benchmarks.md says how):

  MIGRATOR_BENCH_MANATEE_ADM     upstream manatee's bin/manatee-adm (run with node)
  MIGRATOR_BENCH_ANSIBLE         an ansible-playbook executable

A row whose anchor is not named is reported as not measured.
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
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._zk import seed_shards, zookeeper
from migrator.sandbox.manage import UpOptions, down, up

MIGRATOR = [sys.executable, "-m", "migrator"]
ONE_TASK_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: one task
      ansible.builtin.command: "true"
"""


def manatee_adm() -> list[str] | None:
    path = os.environ.get("MIGRATOR_BENCH_MANATEE_ADM")
    node = shutil.which("node")
    if not path or node is None:
        return None
    return [node, path]


def ansible_playbook() -> list[str] | None:
    path = os.environ.get("MIGRATOR_BENCH_ANSIBLE") or shutil.which("ansible-playbook")
    return [path] if path else None


def ansible_interpreter(ansible: Sequence[str]) -> str:
    """The Python the task runs under: the one beside ansible-playbook (its own venv),
    else this one. Named, because interpreter discovery can pick a shim that does not
    run (pyenv's), and would add its own probe to the time."""
    beside = Path(ansible[0]).parent / "python"
    return str(beside) if beside.exists() else sys.executable


def interleaved(ours: Sequence[str], theirs: Sequence[str], runs: int,
                env: dict[str, str] | None = None) -> tuple[float, float]:
    """Median wall times of the two commands, run one after the other ``runs`` times."""
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for argv, times in ((ours, timings[0]), (theirs, timings[1])):
            start = time.perf_counter()
            subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env)
            times.append(time.perf_counter() - start)
    return statistics.median(timings[0]), statistics.median(timings[1])


def row(label: str, anchor: str, times: tuple[float, float] | None, target: float) -> None:
    if times is None:
        print(f"{label:<26} not measured: {anchor} is not installed (docs/benchmarks.md)")
        return
    ours, theirs = times
    ratio = ours / theirs
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(f"{label:<26} {ours * 1000:7.1f} ms   {anchor:<34} {theirs * 1000:7.1f} ms   "
          f"ratio {ratio:4.2f}  target <= {target:g}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    adm = manatee_adm()
    ansible = ansible_playbook()
    print(f"medians of {args.runs} interleaved runs, fresh processes")
    row("migrator --help", "manatee-adm --help",
        interleaved([*MIGRATOR, "--help"], [*adm, "--help"], args.runs) if adm else None,
        0.5)
    if adm:
        with zookeeper() as server:
            zk = server.connection_string
            shard = seed_shards(zk, 1)[0]
            times = interleaved([*MIGRATOR, "status", "--zk", zk, "--shard", shard],
                                [*adm, "zk-active", "-z", zk, "-s", shard], args.runs)
    row("migrator status -z -s", "manatee-adm zk-active -z -s", times if adm else None, 0.8)
    if ansible is None:
        row("migrator plan", "ansible-playbook --check", None, 0.5)
        return
    with tempfile.TemporaryDirectory(prefix="migrator-bench-") as tmp:
        playbook = Path(tmp) / "one-task.yml"
        playbook.write_text(ONE_TASK_PLAYBOOK)
        config = up(Path(tmp) / "sandbox", UpOptions(nodes=3, access="zlogin", pg="sim"))
        try:
            # ansible as it is run by hand: its own config and no cowsay, on this host
            env = {**os.environ, "ANSIBLE_NOCOWS": "1", "ANSIBLE_LOCALHOST_WARNING": "0"}
            times = interleaved(
                [*MIGRATOR, "plan", "--inventory", str(config.directory / "inventory.yaml")],
                [*ansible, "--check", "-i", "localhost,", "-c", "local",
                 "-e", f"ansible_python_interpreter={ansible_interpreter(ansible)}",
                 str(playbook)],
                args.runs, env)
        finally:
            down(config.directory)
    row("migrator plan", "ansible-playbook --check", times, 0.5)


if __name__ == "__main__":
    main()
