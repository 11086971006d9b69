"""A header slowloris against one of heard's listeners, on 127.0.0.1 only.

Opens COUNT connections that each send the start of a request (`GET / HTTP/1.1`, one header)
and never finish it, then waits until the listener has closed every one of them. Meanwhile it
asks another address (the worker's ops listener) for /readyz, to show whether the process
still answers. Reports how many connections the listener accepted and held, how many it
closed at once (over its max_connections), how long the held ones lasted before it cut them
(its header_seconds) and how long /readyz took while the attack held.

    python -m bench.slowloris --port 6066 --probe-port 6067 [--count 3000]

Bounded: COUNT connections at most, each closed by this program after --give-up seconds if
the listener has not closed it; loopback addresses only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import time
from dataclasses import dataclass, field

import aiohttp

LOOPBACK = "127.0.0.1"
PARTIAL_REQUEST = b"GET / HTTP/1.1\r\nHost: heard\r\n"
# A connection the listener closes this soon after it opened was shed, not held.
SHED_SECONDS = 0.5


@dataclass
class AttackReport:
    count: int
    refused: int = 0  # the connection itself failed (backlog full, no file left)
    shed_at_once: int = 0  # closed by the listener within SHED_SECONDS of opening
    held: int = 0  # held longer, until the listener cut it
    held_seconds: list[float] = field(default_factory=list)  # how long each held one lasted
    left_open: int = 0  # still open when this program gave up on them
    probe_seconds: list[float] = field(default_factory=list)
    probe_statuses: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        held = sorted(self.held_seconds) or [0.0]
        probes = self.probe_seconds or [0.0]
        return [
            f"connections tried {self.count}: refused {self.refused}, closed at once "
            f"{self.shed_at_once}, held {self.held}, left open {self.left_open}",
            f"held connections cut after: min {held[0]:.1f} s, median "
            f"{statistics.median(held):.1f} s, max {held[-1]:.1f} s",
            f"/readyz during the attack: {len(probes)} asks, statuses "
            f"{sorted(set(self.probe_statuses))}, median {statistics.median(probes) * 1000:.0f} ms,"
            f" max {max(probes) * 1000:.0f} ms",
        ]


def allow_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def _one(port: int, report: AttackReport, give_up: float, opened: asyncio.Event) -> None:
    """One connection: open it, send the start of a request, and wait for the listener to
    close it. `opened` is set once the partial request is sent (or the attempt failed)."""
    writer = None
    try:
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            report.refused += 1
            return
        started = time.monotonic()
        try:
            writer.write(PARTIAL_REQUEST)
            await writer.drain()
        except OSError:
            report.shed_at_once += 1
            return
        opened.set()
        try:
            await asyncio.wait_for(reader.read(), give_up)
        except TimeoutError:
            report.left_open += 1
            return
        except OSError:
            pass  # reset by the listener: closed all the same
        lasted = time.monotonic() - started
        if lasted < SHED_SECONDS:
            report.shed_at_once += 1
        else:
            report.held += 1
            report.held_seconds.append(lasted)
    finally:
        opened.set()
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _probe(port: int, path: str, report: AttackReport, stop: asyncio.Event) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    while not stop.is_set():
        started = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"http://{LOOPBACK}:{port}{path}") as answer,
            ):
                report.probe_statuses.append(answer.status)
        except (aiohttp.ClientError, TimeoutError):
            report.probe_statuses.append(0)
        report.probe_seconds.append(time.monotonic() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def attack(
    port: int, count: int, probe_port: int | None = None, probe_path: str = "/readyz", give_up: float = 120.0
) -> AttackReport:
    """Open `count` slowloris connections to 127.0.0.1:`port` and wait until every one is
    closed (by the listener, or by this after `give_up` seconds); probe meanwhile."""
    allow_open_files(count + 256)
    report = AttackReport(count)
    stop = asyncio.Event()
    probe = (
        asyncio.create_task(_probe(probe_port, probe_path, report, stop)) if probe_port is not None else None
    )
    # Connections are opened one after another (each past its first read), as an attacker on
    # one machine would; all of them are held at once.
    tasks = []
    for _ in range(count):
        opened = asyncio.Event()
        tasks.append(asyncio.create_task(_one(port, report, give_up, opened)))
        await opened.wait()
    await asyncio.gather(*tasks)
    stop.set()
    if probe is not None:
        await probe
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the listener attacked")
    parser.add_argument("--probe-port", type=int, help="asked for /readyz meanwhile")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--give-up", type=float, default=120.0)
    args = parser.parse_args()
    if args.count > 20_000:
        raise SystemExit("at most 20,000 connections")
    started = time.monotonic()
    report = asyncio.run(attack(args.port, args.count, args.probe_port, give_up=args.give_up))
    for line in report.lines():
        print(line)
    print(f"whole attack: {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
