"""The HTTP plumbing every heard service shares: serving an aiohttp application on one
address, and the internal ops listener:
- `GET /metrics`: Prometheus text format.
- `GET /livez`: 200 while the process serves.
- `GET /readyz`: 200 once nothing keeps the service from being ready (the worker: tables
  recovered and the consent ledger loaded), 503 with what is still pending before that.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.web import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


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


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
