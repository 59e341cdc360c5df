"""Reading zone logs over SSH: offsets vs whole files, and live-follow latency.

Prints:
  read the last MiB of a 1 GiB log from a remembered offset   (vs a 1 MiB log: ratio <= 1.5)
  grep the whole 1 GiB log remotely
  download the whole 1 GiB log (skip with --no-download)
  record written -> matched by the engine's follower: median and p90 (target median <= 50 ms)
The logs are real files of bunyan records (not sparse: grep and cat would skip holes).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._ssh import zone
from migrator.remote.bunyan import RecordMatch, parse_line
from migrator.remote.logs import LogMark
from migrator.remote.session import RemoteSession

MIB = 1 << 20
RUNS = 40


def record(msg: str, **fields: object) -> bytes:
    return (json.dumps({"name": "manatee-sitter", "hostname": "z1", "pid": 1, "level": 30,
                        "msg": msg, "time": "2026-01-01T00:00:00.000Z", "v": 0, **fields})
            + "\n").encode()


def make_log(path: Path, size: int) -> int:
    """A log of ``size`` bytes of records; returns the offset of its last MiB."""
    line = record("incoming event", role="sync")
    block = line * (MIB // len(line))
    block += b"x" * (MIB - len(block) - 1) + b"\n"
    with path.open("wb") as handle:
        for _ in range(size // MIB):
            handle.write(block)
    return size - MIB


def timed_ms(func: object, runs: int = RUNS) -> float:
    assert callable(func)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    download = "--no-download" not in sys.argv
    with zone() as z, RemoteSession(z.inventory, use_agent=False) as session:
        log = Path(z.inventory.sitter_log("z1") or "")
        marks: dict[str, LogMark] = {}
        for label, size in (("1 MiB", MIB), ("1 GiB", 1 << 30)):
            path = log.with_name(f"{label.replace(' ', '')}.log")
            offset = make_log(path, size)
            mark = session.mark_log("z1", str(path))
            marks[label] = LogMark(mark.zone, mark.path, offset, mark.dev, mark.inode)
            assert session.read_since("z1", marks[label], max_bytes=2 * MIB).bytes_read == MIB
        os.sync()  # so writeback of the fresh GiB does not run during the measurement
        # interleaved, so that load from anything else on the machine hits both sizes alike
        samples: dict[str, list[float]] = {label: [] for label in marks}
        for _ in range(RUNS):
            for label, at in marks.items():
                started = time.perf_counter()
                session.read_since("z1", at, max_bytes=2 * MIB)
                samples[label].append((time.perf_counter() - started) * 1000)
        results = {label: statistics.median(values) for label, values in samples.items()}
        log = Path(marks["1 GiB"].path)
        grep_ms = timed_ms(lambda: session.run("z1", ["grep", "-c", "assuming role", str(log)]),
                           3)
        download_ms = None
        if download:
            started = time.perf_counter()
            got = session.run("z1", ["cat", str(log)], max_output=1 << 31, timeout=600)
            download_ms = (time.perf_counter() - started) * 1000
            assert len(got.stdout) == 1 << 30
            del got

        latencies = follow_latencies(session, log)
    print(f"last MiB from offset, 1 MiB log    {results['1 MiB']:9.2f} ms")
    print(f"last MiB from offset, 1 GiB log    {results['1 GiB']:9.2f} ms   "
          f"(ratio {results['1 GiB'] / results['1 MiB']:.2f}, target <= 1.5)")
    print(f"grep the whole 1 GiB log           {grep_ms:9.2f} ms")
    if download_ms is not None:
        print(f"download the whole 1 GiB log       {download_ms:9.2f} ms")
    print(f"record written -> matched (n={len(latencies)})  median "
          f"{statistics.median(latencies):.2f} ms, p90 "
          f"{sorted(latencies)[int(len(latencies) * 0.9)]:.2f} ms   (target median <= 50)")


def follow_latencies(session: RemoteSession, log: Path, samples: int = 50) -> list[float]:
    log.write_bytes(b"")
    mark = session.mark_log("z1", str(log))
    spec = RecordMatch(msg="assuming role", fields={"role": "primary"})
    latencies: list[float] = []
    with session.follow("z1", mark) as follower:
        for index in range(samples):
            written: list[float] = []

            def write(index: int = index, written: list[float] = written) -> None:
                with log.open("ab") as handle:
                    handle.write(record("incoming event", n=index))
                    written.append(time.perf_counter())  # just before the record lands
                    handle.write(record("assuming role", role="primary", n=index))

            timer = threading.Timer(0.01, write)
            timer.start()
            for line in follower.lines(time.monotonic() + 5):
                found = parse_line(line)
                if spec.matches(found) and found.get("n") == index:
                    latencies.append((time.perf_counter() - written[0]) * 1000)
                    break
            timer.join()
    return latencies


if __name__ == "__main__":
    main()
