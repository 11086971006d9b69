"""Write-back on the real stack: a worker on real Kafka writes what it told a customer back
to the help desk's ticket as internal notes, through HTTP: to a local peer holding Zendesk's
documented shape (Update Ticket with a private comment), whose first answer is a 429 with
Retry-After, which the worker waits out; and to Prism serving the vendors' own published
OpenAPI descriptions: Intercom's "Reply to a conversation" and Atlassian's Jira "Add
comment"."""

from __future__ import annotations

import base64
import json
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from heard.devstack.kafka import free_port
from heard.streams.contract import stories
from heard.streams.delivery.helpdesk import HELPDESKS
from heard.streams.delivery.helpdesk.client import NoteNotWritten, NoteWriter
from tests.conftest import Worker, wait_for
from tests.integration.test_end_to_end import send
from tests.peers import REPO, VENDORED_INTERCOM_SPEC, VENDORED_JIRA_SPEC, Prism

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
        + "  user_env: ZENDESK_USER\n  token_env: ZENDESK_TOKEN\n  batch_seconds: 1\n  language: es\n"
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
            lambda: any("enviado por email (acuse de recibo)" in note for note in peer.notes_for(number)),
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
            lambda: any("(actualización de avance)" in note for note in peer.notes_for(number)),
            90,
            "the milestone noted on the ticket",
        )
    finally:
        await server.close()
    notes = peer.notes_for(number)
    assert peer.refused_once and notes[0] == notes[1], "the note refused with 429 was sent again as it was"
    # In the team's language, with the promise each message made on the team's clock.
    assert all(note.startswith("heard, al cliente y del cliente:\n") for note in notes)
    assert "(acuse de recibo); primera respuesta prometida antes del " in notes[0]
    assert "amara@example.net" not in "".join(notes)


def contract_peer(factory: pytest.TempPathFactory, name: str, spec: Path) -> Iterator[Prism]:
    """A vendor's own published description served by Prism: a request that does not match
    it (a body, a header, the login) is refused."""
    peer = Prism(factory.mktemp(name), spec)
    try:
        peer.start()
    except RuntimeError as exc:
        pytest.fail(f"the {name} contract peer (Prism) could not start: {exc}")
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def intercom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    yield from contract_peer(tmp_path_factory, "intercom", VENDORED_INTERCOM_SPEC)


@pytest.fixture(scope="module")
def jira(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    yield from contract_peer(tmp_path_factory, "jira", VENDORED_JIRA_SPEC)


class RecordingProxy:
    """Passes each request on to the contract peer and keeps what it answered."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.answers: list[tuple[str, int, Any]] = []

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as answer,
        ):
            said = await answer.read()
            self.answers.append((request.path, answer.status, json.loads(body or b"null")))
            return web.Response(status=answer.status, body=said, content_type="application/json")


async def first_note_through_the_contract(
    desk: str,
    ticket: str,
    peer: Prism,
    env: dict[str, str],
    folder: Path,
    kafka: tuple[str, str],
    worker_with: Callable[..., Worker],
) -> tuple[str, int, Any]:
    """A worker writing back to `desk` through a recording proxy in front of its contract
    peer; a ticket is created and the first note's (path, status, body) returned."""
    proxy = RecordingProxy(peer.base_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.forward)
    port = free_port()
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    config = folder / "config"
    shutil.copytree(REPO / "config", config, dirs_exist_ok=True)
    user_env, token_env = env
    connectors = config / "connectors.yaml"
    connectors.write_text(
        connectors.read_text()
        + f"\nwriteback:\n  helpdesk: {desk}\n  base_url: http://127.0.0.1:{port}\n"
        + f"  user_env: {user_env}\n  token_env: {token_env}\n  batch_seconds: 1\n"
    )
    try:
        worker_with(HEARD_CONFIG_DIR=str(config), **env)
        await send(*kafka, [stories.created(ticket, datetime.now(UTC), eid=ticket)])
        await wait_for(lambda: proxy.answers, 90, f"a note posted to {desk}")
    finally:
        await server.close()
    return proxy.answers[0]


async def test_notes_to_intercom_match_intercoms_published_contract(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    worker_with: Callable[..., Worker],
    intercom: Prism,
) -> None:
    number = str(random.randrange(10**6, 10**7))
    path, status, body = await first_note_through_the_contract(
        "intercom",
        f"ic-{number}",
        intercom,
        {"INTERCOM_ADMIN_ID": "814860", "INTERCOM_TOKEN": "ic-token"},
        tmp_path,
        (kafka_bootstrap, topic_prefix),
        worker_with,
    )
    assert (path, status) == (f"/conversations/{number}/reply", 200), (path, status)
    assert body["message_type"] == "note" and "acknowledgment sent by email" in body["body"]

    # The contract bites: the same note with the admin id as a number is refused, not written.
    wrong = HELPDESKS["intercom"]

    def as_number(base: str, ticket: str, text: str, user: str | None) -> Any:
        request = wrong.note(base, ticket, text, user)
        return replace(request, json={**request.json, "admin_id": 814860})

    writer = NoteWriter(replace(wrong, note=as_number), intercom.base_url, "814860", "ic-token", attempts=1)
    try:
        with pytest.raises(NoteNotWritten, match="intercom refused the note: 422"):
            await writer.post(number, "heard, to and from the customer:")
    finally:
        await writer.aclose()


async def test_notes_to_jira_match_atlassians_published_contract(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    worker_with: Callable[..., Worker],
    jira: Prism,
) -> None:
    key = f"SUP-{random.randrange(10**5, 10**6)}"  # heard's Jira connector keeps the issue key
    path, status, body = await first_note_through_the_contract(
        "jira",
        key,
        jira,
        {"JIRA_USER": "ops@acme.example", "JIRA_TOKEN": "jira-token"},
        tmp_path,
        (kafka_bootstrap, topic_prefix),
        worker_with,
    )
    assert (path, status) == (f"/rest/api/3/issue/{key}/comment", 201), (path, status)
    assert body["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    paragraphs = [block["content"][0]["text"] for block in body["body"]["content"]]
    assert paragraphs[0] == "heard, to and from the customer:"
    assert "acknowledgment sent by email" in paragraphs[1]

    # The contract bites: the property given as an object, not a list of {key, value}, gets
    # the 400 the description documents for an invalid request.
    right = HELPDESKS["jira"]

    def as_object(base: str, ticket: str, text: str, user: str | None) -> Any:
        request = right.note(base, ticket, text, user)
        wrong = {"sd.public.comment": {"internal": True}}
        return replace(request, json={**request.json, "properties": wrong})

    writer = NoteWriter(replace(right, note=as_object), jira.base_url, "ops@acme.example", "t", attempts=1)
    try:
        with pytest.raises(NoteNotWritten, match="jira refused the note: 400"):
            await writer.post(key, "heard, to and from the customer:")
    finally:
        await writer.aclose()


class DocumentedPeer:
    """A help desk's add-a-note endpoint as its API reference documents it (no published
    description to serve): the login it takes and the body's required fields."""

    def __init__(self, login: str, private: bool) -> None:
        self.login, self.private = login, private
        self.notes: list[tuple[str, str]] = []

    async def add(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.login:
            return web.json_response({"message": "unauthorized"}, status=401)
        body = await request.json()
        if not isinstance(body.get("body"), str) or (self.private and body.get("private") is not True):
            return web.json_response({"message": "validation failed"}, status=400)
        self.notes.append((request.match_info["id"], body["body"]))
        return web.json_response({"id": len(self.notes)}, status=201)


@pytest.mark.parametrize(
    ("desk", "route", "ticket", "login"),
    [
        # Freshdesk: a private note in HTML; the API key logs in as the user, any password.
        (
            "freshdesk",
            "/api/v2/tickets/{id}/notes",
            "fd-{n}",
            "Basic " + base64.b64encode(b"fd-key:X").decode(),
        ),
        # Front: a comment on the conversation (the team's own); the token as a bearer.
        ("front", "/conversations/{id}/comments", "fr-cnv_{n}", "Bearer fd-key"),
    ],
)
async def test_freshdesk_and_front_get_what_heard_told_the_customer(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    worker_with: Callable[..., Worker],
    desk: str,
    route: str,
    ticket: str,
    login: str,
) -> None:
    peer = DocumentedPeer(login, private=desk == "freshdesk")
    app = web.Application()
    app.router.add_post(route, peer.add)
    port = free_port()
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, dirs_exist_ok=True)
    connectors = config / "connectors.yaml"
    connectors.write_text(
        connectors.read_text()
        + f"\nwriteback:\n  helpdesk: {desk}\n  base_url: http://127.0.0.1:{port}\n"
        + "  token_env: DESK_TOKEN\n  batch_seconds: 1\n"
    )
    ours = ticket.format(n=random.randrange(10**6, 10**7))
    try:
        worker_with(HEARD_CONFIG_DIR=str(config), DESK_TOKEN="fd-key")
        await send(kafka_bootstrap, topic_prefix, [stories.created(ours, datetime.now(UTC), eid=ours)])
        await wait_for(lambda: peer.notes, 90, f"a note on the {desk} ticket")
    finally:
        await server.close()
    [(their_id, body)] = peer.notes
    assert their_id == ours.split("-", 1)[1], "the connector's prefix is taken off"
    assert "acknowledgment sent by email; first reply promised by " in body
    assert "amara@example.net" not in body
