"""Write-back on the real stack: a worker on real Kafka writes what it told a customer back
to the help desk's ticket as internal notes, through HTTP to a local peer holding Zendesk's
documented shape (Update Ticket with a private comment); the peer's first answer is a 429
with Retry-After, which the worker waits out."""

from __future__ import annotations

import base64
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from heard.devstack.kafka import free_port
from heard.streams.contract import stories
from tests.conftest import Worker, wait_for
from tests.integration.test_end_to_end import send
from tests.peers import REPO

pytestmark = pytest.mark.integration


class ZendeskPeer:
    """What Zendesk's Update Ticket endpoint checks of a note: the path, the API-token login,
    and a private comment with a body; it answers 429 once, as a rate-limited account does."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refused_once = False

    async def update_ticket(self, request: web.Request) -> web.Response:
        body = await request.json()
        login = base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()
        comment = body["ticket"]["comment"]
        assert login == "ops@acme.example/token:zd-api-token" and comment["public"] is False
        self.requests.append({"ticket": request.match_info["id"], "body": comment["body"]})
        if not self.refused_once:
            self.refused_once = True
            return web.json_response(
                {"error": "APIRateLimitExceeded"}, status=429, headers={"Retry-After": "1"}
            )
        return web.json_response({"ticket": {"id": int(request.match_info["id"])}})

    def notes_for(self, ticket: str) -> list[str]:
        return [r["body"] for r in self.requests if r["ticket"] == ticket]


def config_writing_back_to(folder: Path, port: int) -> Path:
    shutil.copytree(REPO / "config", folder, dirs_exist_ok=True)
    connectors = folder / "connectors.yaml"
    connectors.write_text(
        connectors.read_text()
        + "\nwriteback:\n  helpdesk: zendesk\n"
        + f"  base_url: http://127.0.0.1:{port}\n"
        + "  user_env: ZENDESK_USER\n  token_env: ZENDESK_TOKEN\n  batch_seconds: 1\n"
    )
    return folder


async def test_what_heard_told_the_customer_appears_on_the_help_desk_ticket(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_with: Callable[..., Worker]
) -> None:
    peer = ZendeskPeer()
    app = web.Application()
    app.router.add_put("/api/v2/tickets/{id}.json", peer.update_ticket)
    port = free_port()
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        worker_with(
            HEARD_CONFIG_DIR=str(config_writing_back_to(tmp_path / "config", port)),
            ZENDESK_USER="ops@acme.example",
            ZENDESK_TOKEN="zd-api-token",
        )
        number = str(random.randrange(10**6, 10**7))
        ticket = f"zd-{number}"  # as heard's Zendesk connector names Zendesk's ticket {number}
        now = datetime.now(UTC)
        await send(kafka_bootstrap, topic_prefix, [stories.created(ticket, now, eid=f"{ticket}-created")])
        await wait_for(
            lambda: any("acknowledgment sent by email" in note for note in peer.notes_for(number)),
            90,
            "the acknowledgment noted on the ticket",
        )
        reply = stories.event(
            "ticket.agent_reply",
            ticket,
            now + timedelta(seconds=1),
            eid=f"{ticket}-reply",
            agent={"name": "Aisha Rahman", "email": "aisha@example.com"},
            public=True,
            milestone={"text": "Refund approved."},
        )
        await send(kafka_bootstrap, topic_prefix, [reply])
        await wait_for(
            lambda: any("milestone update sent by email" in note for note in peer.notes_for(number)),
            90,
            "the milestone noted on the ticket",
        )
    finally:
        await server.close()
    notes = peer.notes_for(number)
    assert peer.refused_once and notes[0] == notes[1], "the note refused with 429 was sent again as it was"
    assert all(note.startswith("heard, to and from the customer:\n") for note in notes)
    assert "amara@example.net" not in "".join(notes)
