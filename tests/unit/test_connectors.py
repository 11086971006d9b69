"""Vendor payloads -> canonical events, offline, with the shipped config/connectors.yaml."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heard.streams.connectors import connector_for
from heard.streams.connectors.base import Request, Unmappable, body_digest
from heard.streams.connectors.service import Ingest, Publisher
from heard.streams.records import event_to_json
from heard.streams.settings import load_settings
from tests.connector_signing import SECRETS, body_of, signed_headers
from tests.peers import REPO

SETTINGS = load_settings(REPO / "config", environ={})
INGEST = Ingest(SETTINGS, Publisher("127.0.0.1:1"), environ=SECRETS)


def mapped(source: str, name: str) -> list[dict[str, Any]]:
    body = body_of(source, name)
    connector, settings = INGEST.sources[source]
    request = Request(signed_headers(source, name, body), body, None)
    payload = json.loads(body)
    events = INGEST.map(source, connector, settings, request, payload,
                        connector.delivery_id(request, payload))
    return [json.loads(event_to_json(e)) for e in events]


def test_github_issue_opened_comment_and_close() -> None:
    [created] = mapped("github", "issues_opened")
    assert (created["type"], created["ticket_id"]) == ("ticket.created",
                                                       "gh-octocat.Hello-World#1347")
    assert created["customer"]["name"] == "octocat" and "email" not in created["customer"]
    assert created["occurred_at"].startswith("2026-11-20T10:00:00")
    [reply] = mapped("github", "issue_comment_created")
    assert (reply["type"], reply["public"], reply["agent"]["name"]) == (
        "ticket.agent_reply", True, "hubot")
    assert reply["milestone"]["text"] == ("found the off-by-one in the exporter; "
                                          "a fix is in review.")
    [closed] = mapped("github", "issues_closed")
    assert closed["type"] == "ticket.closed"
    digest = body_digest(body_of("github", "issues_opened"))
    assert created["id"] == f"github:{digest}:0", "ids derive from the signed body"


def test_intercom_conversation_reply_and_internal_note() -> None:
    [created] = mapped("intercom", "conversation_user_created")
    assert created["ticket_id"] == "ic-147"
    customer = created["customer"]
    assert (customer["name"], customer["id"], customer["email"]) == (
        "Amara Okafor", "5310d8e8598c9a0b24000005", "amara@example.net")
    assert customer["consent"] == {"email": True, "sms": False}, "no SMS without consent"
    assert created["subject"] == "Hi, my invoice shows the same charge twice."
    [reply] = mapped("intercom", "conversation_admin_replied")
    assert reply["public"] is True and reply["agent"]["email"] == "priya.shah@example.com"
    assert reply["milestone"]["text"].startswith("the duplicate charge is refunded")
    [note] = mapped("intercom", "conversation_admin_noted")
    assert note["public"] is False and "milestone" not in note


def test_jira_created_public_comment_and_resolution_with_summary() -> None:
    [created] = mapped("jira", "issue_created")
    assert created["ticket_id"] == "SUP-12"
    assert created["customer"]["timezone"] == "Europe/Warsaw"
    assert created["customer"]["email"] == "lukasz.nowak@example.org"
    [comment] = mapped("jira", "comment_created")
    assert (comment["type"], comment["public"]) == ("ticket.agent_reply", True)
    [resolved] = mapped("jira", "issue_resolved")
    assert resolved["type"] == "ticket.resolved"
    assert resolved["summary"]["prevention"].startswith("Payment retries now check")


def test_front_new_conversation_and_outbound_reply() -> None:
    [created] = mapped("front", "inbound_received")
    assert created["ticket_id"] == "fr-cnv_55c8c149"
    assert (created["customer"]["name"], created["customer"]["email"]) == (
        "María García", "maria@example.com")
    [reply] = mapped("front", "outbound_sent")
    assert reply["agent"]["name"] == "Lucía Romero"
    assert reply["milestone"]["text"] == "your parcel left the depot this morning."


def test_zendesk_trigger_bodies_with_warm_data_and_summary() -> None:
    [created] = mapped("zendesk", "created")
    assert created["ticket_id"] == "zd-35436"
    assert created["customer"]["preferred_name"] == "Amara"
    assert created["customer"]["consent"] == {"email": True, "sms": False}
    assert "phone" not in created["customer"], "empty placeholders count as absent"
    [reply] = mapped("zendesk", "agent_reply")
    assert reply["agent"] == {"name": "Sam Reyes", "email": "sam.reyes@example.com",
                              "id": "77", "team": "parcels"}
    [solved] = mapped("zendesk", "solved")
    assert solved["type"] == "ticket.resolved"
    assert solved["summary"]["what_changed"] == "It was re-routed with priority delivery."
    with pytest.raises(Unmappable, match="no closure summary"):
        mapped("zendesk", "solved_without_summary")


def test_freshdesk_created_and_status_by_mapping() -> None:
    [created] = mapped("freshdesk", "created")
    assert created["customer"]["phone"] == "+525512345678"
    assert created["customer"]["language"] == "es"
    [status] = mapped("freshdesk", "status_pending")
    assert (status["type"], status["to_status"]) == ("ticket.status_changed",
                                                     "pending_customer")


@pytest.mark.parametrize("source", ["github", "jira", "intercom", "front", "zendesk",
                                    "freshdesk"])
def test_signatures_are_checked_and_a_wrong_secret_fails(source: str) -> None:
    name = {"github": "issues_opened", "jira": "issue_created",
            "intercom": "conversation_user_created", "front": "inbound_received",
            "zendesk": "created", "freshdesk": "created"}[source]
    body = body_of(source, name)
    settings = SETTINGS.connectors.sources[source]
    connector = connector_for(source, settings)

    def request(headers: dict[str, str], payload: bytes = body) -> Request:
        return Request(headers, payload, SECRETS.get(settings.secret_env or ""),
                       SECRETS.get(settings.username_env or ""),
                       SECRETS.get(settings.password_env or ""))

    assert connector.authentic(request(signed_headers(source, name, body)))
    assert not connector.authentic(request(signed_headers(source, name, body, wrong=True)))
    if source != "freshdesk":  # Freshdesk offers basic auth only: no body signature
        assert not connector.authentic(request(signed_headers(source, name, body),
                                               body[:-1] + b" }"))
    assert not connector.authentic(request({}))
