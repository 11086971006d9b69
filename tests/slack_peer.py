"""A local stand-in for Slack's incoming webhooks that holds every post to Slack's
documented shape (https://api.slack.com/messaging/webhooks): a POST of a JSON object with
a non-empty `text` to a webhook's own path, answered 200 `ok`; otherwise the status and
reason Slack gives. Served from a thread of its own, so a worker process can post to it
while a test blocks."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from heard.devstack.kafka import free_port


@dataclass
class Post:
    path: str
    payload: dict[str, Any]
    content_type: str


@dataclass
class SlackPeer:
    # The paths of the webhooks it knows, as Slack issues them: /services/T…/B…/<secret>.
    hooks: tuple[str, ...] = ("/services/T000/B000/team", "/services/T000/B000/lead")
    posts: list[Post] = field(default_factory=list)
    # Answers to give before the normal ones: (status, body, Retry-After or None).
    faults: list[tuple[int, str, str | None]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, hook: str) -> str:
        return f"http://127.0.0.1:{self.port}{hook}"

    def texts(self, hook: str) -> list[str]:
        return [post.payload["text"] for post in self.posts if post.path == hook]

    async def answer(self, request: web.Request) -> web.Response:
        if request.path not in self.hooks:
            return self._refuse(404, "no_service", request)
        if self.faults:
            status, body, retry_after = self.faults.pop(0)
            headers = {"Retry-After": retry_after} if retry_after else {}
            return web.Response(status=status, text=body, headers=headers)
        if request.content_type != "application/json":
            return self._refuse(400, "invalid_payload", request)
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return self._refuse(400, "invalid_payload", request)
        if not isinstance(payload, dict):
            return self._refuse(400, "invalid_payload", request)
        text = payload.get("text")
        if not (isinstance(text, str) and text.strip()) and not payload.get("blocks"):
            return self._refuse(400, "no_text", request)
        self.posts.append(Post(request.path, payload, request.content_type))
        return web.Response(text="ok", content_type="text/plain")

    def _refuse(self, status: int, reason: str, request: web.Request) -> web.Response:
        self.refused.append(f"{request.method} {request.path}: {status} {reason}")
        return web.Response(status=status, text=reason, content_type="text/plain")


class RunningSlackPeer:
    def __init__(self, peer: SlackPeer) -> None:
        self.peer = peer
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="slack-peer", daemon=True)
        self.runner: web.AppRunner | None = None

    def __enter__(self) -> SlackPeer:
        self.thread.start()
        self.peer.port = free_port()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.peer.answer)

        async def start() -> web.AppRunner:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.peer.port).start()
            return runner

        self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        return self.peer

    def __exit__(self, *_: object) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
