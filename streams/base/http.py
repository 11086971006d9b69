"""The HTTP plumbing every heard service shares: serving an aiohttp application on one
address, and the internal ops listener:
- `GET /metrics`: Prometheus text format.
- `GET /livez`: 200 while the process serves.
- `GET /readyz`: 200 once nothing keeps the service from being ready (the worker: tables
  recovered and the consent ledger loaded), 503 with what is still pending before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.web import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from heard.streams.base.settings import ConfigError


def _text(status: int, text: str) -> Response:
    return Response(status=status, text=text or None)


def ops_app(pending: Callable[[], list[str]]) -> web.Application:
    """`pending` names what still keeps the worker from being ready (empty when ready)."""

    async def metrics(request: Request) -> Response:
        return Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def livez(request: Request) -> Response:
        return _text(200, "alive")

    async def readyz(request: Request) -> Response:
        waiting = pending()
        return _text(503, "not ready: " + ", ".join(waiting)) if waiting else _text(200, "ready")

    app = web.Application(client_max_size=4096)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    return app


@dataclass(frozen=True)
class ListenerLimits:
    """What one client may hold of a listener, so that slow or idle clients cannot exhaust it
    (and with it the process's file descriptors, which the ops listener needs too).

    - `header_seconds`: a connection that has not sent a whole request's headers this long
      after it opened (or after its last response) is closed: a client sending its headers
      a byte at a time (slowloris) is cut off, and so is an idle keep-alive connection.
    - `request_seconds`: the most one request may take, its body's arrival included; then
      503 with Retry-After. None for listeners that stream (the studio's live page).
    - `max_connections`: connections open at once; one more is closed as soon as it is
      accepted, before anything is read from it.
    """

    name: str
    header_seconds: float = 10.0
    request_seconds: float | None = 30.0
    max_connections: int = 256


# The ops listener (/metrics, /livez, /readyz) is internal and asked by a few scrapers and
# probes: a small bound of its own, untouched by whatever fills the public listener.
OPS_LIMITS = ListenerLimits(name="ops", header_seconds=10.0, request_seconds=10.0, max_connections=64)

CONNECTIONS_SHED = Counter(
    "heard_http_connections_shed_total",
    "Connections closed at once because the listener was full",
    ["listener"],
)
REQUESTS_TIMED_OUT = Counter(
    "heard_http_requests_timed_out_total", "Requests cut off at the listener's request_seconds", ["listener"]
)


class _Shed(asyncio.Protocol):
    """The protocol a connection beyond the limit gets: closed as soon as accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()


def _time_bound(limits: ListenerLimits) -> Any:
    @web.middleware
    async def bounded(request: Request, handler: Any) -> web.StreamResponse:
        try:
            async with asyncio.timeout(limits.request_seconds):
                response: web.StreamResponse = await handler(request)
                return response
        except TimeoutError:
            REQUESTS_TIMED_OUT.labels(limits.name).inc()
            return Response(
                status=503,
                text="the request took too long; try again\n",
                headers={"Retry-After": "5", "Connection": "close"},
            )

    return bounded


@dataclass
class Listener:
    """An aiohttp application served on one address within its limits."""

    runner: web.AppRunner
    server: asyncio.Server

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def cleanup(self) -> None:
        self.server.close()
        await self.runner.cleanup()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    limits: ListenerLimits | None = None,
    sock: socket.socket | None = None,
) -> Listener:
    """Serve `app` on host:port (or on `sock`, already bound), within `limits`."""
    bounds = limits or ListenerLimits(name=f"{host}:{port}")
    if bounds.request_seconds is not None:
        app.middlewares.insert(0, _time_bound(bounds))
    # aiohttp closes a connection whose request has not fully arrived by its keep-alive
    # deadline: armed when the connection opens and again after every response.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=bounds.header_seconds)
    await runner.setup()
    handlers = runner.server
    assert handlers is not None

    def accept() -> asyncio.BaseProtocol:
        if len(handlers.connections) >= bounds.max_connections:
            CONNECTIONS_SHED.labels(bounds.name).inc()
            return _Shed()
        return handlers()

    loop = asyncio.get_running_loop()
    server = await (
        loop.create_server(accept, sock=sock)
        if sock is not None
        else loop.create_server(accept, host, port, reuse_address=True)
    )
    return Listener(runner, server)


def check_free(host: str, port: int, where: str, variable: str) -> None:
    """Stop start-up with one line when a listener's port is taken, naming the setting and
    its variable (`where`: "config/engine.yaml: web.port"), before anything else starts."""
    if port == 0:
        return  # any free port
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listener binds
        probe.bind((host, port))
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        raise ConfigError(
            f"{where} ({variable}): {host}:{port} {why}; stop what holds it, or set {variable} to a free port"
        ) from None
    finally:
        probe.close()


def raise_open_file_limit() -> None:
    """Let the process open as many files as the system allows it (the soft limit, often
    1,024, is what a listener's connections would otherwise run into first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
