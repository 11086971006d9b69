"""Vendor payloads -> canonical events, offline, with the shipped config/connectors.yaml."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from heard.streams.connectors import connector_for
from heard.streams.connectors.base import Request, Unmappable, body_digest
from heard.streams.connectors.service import Ingest, Publisher
from heard.streams.contract.records import event_to_json, parse_event
from heard.streams.delivery.config import load_settings
from heard.streams.policy.decide import decide
from tests.connector_signing import SECRETS, body_of, signed_headers
from tests.peers import REPO
from tests.unit.test_policy import RULES

SETTINGS = load_settings(REPO / "config", environ={})
INGEST = Ingest(SETTINGS, Publisher("127.0.0.1:1"), environ=SECRETS)


def mapped(source: str, name: str) -> list[dict[str, Any]]:
    body = body_of(source, name)
    connector, settings = INGEST.sources[source]
    request = Request(signed_headers(source, name, body), body, None)
    payload = json.loads(body)
    events = INGEST.map(
        source, connector, settings, request, payload, connector.delivery_id(request, payload)
    )
    return [json.loads(event_to_json(e)) for e in events]


def test_github_issue_opened_comment_and_close() -> None:
    [created] = mapped("github", "issues_opened")
    assert (created["type"], created["ticket_id"]) == ("ticket.created", "gh-octocat.Hello-World#1347")
    assert created["customer"]["name"] == "octocat" and "email" not in created["customer"]
    assert created["occurred_at"].startswith("2026-11-20T10:00:00")
    [reply] = mapped("github", "issue_comment_created")
    assert (reply["type"], reply["public"], reply["agent"]["name"]) == ("ticket.agent_reply", True, "hubot")
    assert reply["milestone"]["text"] == ("found the off-by-one in the exporter; a fix is in review.")
    [closed] = mapped("github", "issues_closed")
    assert closed["type"] == "ticket.closed"
    digest = body_digest(body_of("github", "issues_opened"))
    assert created["id"] == f"github:{digest}:0", "ids derive from the signed body"


def test_intercom_conversation_reply_and_internal_note() -> None:
    [created] = mapped("intercom", "conversation_user_created")
    assert created["ticket_id"] == "ic-147"
    customer = created["customer"]
    assert (customer["name"], customer["id"], customer["email"]) == (
        "Amara Okafor",
        "5310d8e8598c9a0b24000005",
        "amara@example.net",
    )
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
        "María García",
        "maria@example.com",
    )
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
    assert reply["agent"] == {
        "name": "Sam Reyes",
        "email": "sam.reyes@example.com",
        "id": "77",
        "team": "parcels",
    }
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
    assert (status["type"], status["to_status"]) == ("ticket.status_changed", "pending_customer")


@pytest.mark.parametrize("source", ["github", "jira", "intercom", "front", "zendesk", "freshdesk"])
def test_signatures_are_checked_and_a_wrong_secret_fails(source: str) -> None:
    name = {
        "github": "issues_opened",
        "jira": "issue_created",
        "intercom": "conversation_user_created",
        "front": "inbound_received",
        "zendesk": "created",
        "freshdesk": "created",
    }[source]
    body = body_of(source, name)
    settings = SETTINGS.connectors.sources[source]
    connector = connector_for(source, settings)

    def request(headers: dict[str, str], payload: bytes = body) -> Request:
        return Request(
            headers,
            payload,
            SECRETS.get(settings.secret_env or ""),
            SECRETS.get(settings.username_env or ""),
            SECRETS.get(settings.password_env or ""),
        )

    assert connector.authentic(request(signed_headers(source, name, body)))
    assert not connector.authentic(request(signed_headers(source, name, body, wrong=True)))
    if source != "freshdesk":  # Freshdesk offers basic auth only: no body signature
        assert not connector.authentic(request(signed_headers(source, name, body), body[:-1] + b" }"))
    assert not connector.authentic(request({}))


# ------------------------------------------------------------------ payloads from public sources
# tests/fixtures/connectors/SOURCES.md says where each `public_*` file comes from.
PUBLIC: dict[tuple[str, str], tuple[str, ...]] = {
    # (vendor, fixture): (canonical type, who acted, time) -- "who" is customer, agent, note or -.
    ("github", "public_issues_opened"): ("ticket.created", "customer", "2019-05-15T15:20:18"),
    ("github", "public_comment_by_owner"): ("ticket.agent_reply", "agent", "2019-05-15T15:20:21"),
    ("github", "public_issues_assigned"): ("ticket.assigned", "agent", "2019-05-15T15:20:18"),
    ("github", "public_issues_reopened"): ("ticket.reopened", "-", "2021-10-11T16:40:56"),
    ("intercom", "public_user_created"): ("ticket.created", "customer", "2019-03-22T21:29:58"),
    ("intercom", "public_user_replied"): ("ticket.customer_message", "customer", "2019-03-22T21:48:28"),
    ("intercom", "public_admin_replied"): ("ticket.agent_reply", "agent", "2019-03-22T21:45:12"),
    ("intercom", "public_admin_noted"): ("ticket.agent_reply", "note", "2019-03-23T22:02:17"),
    ("intercom", "public_admin_closed"): ("ticket.closed", "-", "2019-03-22T21:49:50"),
    ("jira", "public_issue_created"): ("ticket.created", "customer", "2013-03-27T16:53:58"),
    ("jira", "public_comment_created"): ("ticket.customer_message", "customer", "2019-01-07T20:25:51"),
    ("jira", "public_issue_updated_status"): ("ticket.status_changed", "-", "2017-01-30T17:32:14"),
    ("front", "public_rule_inbound"): ("ticket.created", "customer", "2018-02-11T00:33:20"),
    ("front", "public_rule_out_reply"): ("ticket.agent_reply", "agent", "2017-10-26T07:53:26"),
    ("front", "public_rule_comment"): ("ticket.agent_reply", "note", "2018-02-11T00:42:29"),
    ("front", "public_rule_assign"): ("ticket.assigned", "agent", "2017-10-26T08:03:14"),
    ("front", "public_rule_archive"): ("ticket.closed", "-", "2017-10-26T06:59:06"),
    ("front", "public_rule_reopen"): ("ticket.reopened", "-", "2018-02-11T00:12:52"),
    ("zendesk", "public_dust_comment_added"): ("ticket.agent_reply", "agent", "2025-01-08T14:25:30"),
}


def who(event: dict[str, Any]) -> str:
    if event["type"] in ("ticket.created", "ticket.customer_message"):
        return "customer"
    if event["type"] == "ticket.agent_reply":
        return "agent" if event["public"] else "note"
    return "agent" if "agent" in event else "-"


@pytest.mark.parametrize(("source", "name"), list(PUBLIC))
def test_payloads_from_public_sources_map_to_the_event_a_lead_would_name(source: str, name: str) -> None:
    [event] = mapped(source, name)
    kind, actor, moment = PUBLIC[(source, name)]
    assert (event["type"], who(event), event["occurred_at"][:19]) == (kind, actor, moment)
    assert event["ticket_id"].startswith(INGEST.sources[source][1].ticket_prefix)


def test_customers_from_public_payloads_are_found_where_each_vendor_keeps_them() -> None:
    [intercom] = mapped("intercom", "public_user_created")  # item.user, an anonymous lead
    assert intercom["customer"]["name"] == "Rose Poodle from St. John's"
    assert any("no email address or phone number" in w for w in intercom["warnings"])
    [jira] = mapped("jira", "public_issue_created")
    assert (jira["customer"]["name"], jira["customer"]["email"]) == ("Leo Franchi", "othello@zulip.com")
    [front] = mapped("front", "public_rule_inbound")
    assert front["customer"]["email"] == "calculon@momsbot.com"


@pytest.mark.parametrize("source", ["github", "intercom", "jira", "front", "zendesk", "freshdesk"])
def test_a_body_a_vendor_never_sends_is_a_dead_letter_not_an_ignore(source: str) -> None:
    body = json.dumps({"hello": "world"}).encode()
    connector, _ = INGEST.sources[source]
    headers = {} if source != "github" else {"X-GitHub-Event": "issues"}
    with pytest.raises(Unmappable) as refused:
        INGEST.map(
            source, connector, INGEST.sources[source][1], Request(headers, body, None), json.loads(body), "d"
        )
    assert str(refused.value).startswith("unrecognised ")


@pytest.mark.parametrize(
    ("source", "payload", "headers", "reason"),
    [
        (
            "github",
            {"action": "created"},
            {"X-GitHub-Event": "issue_commentz"},
            "unrecognised GitHub event 'issue_commentz'",
        ),
        (
            "jira",
            {"webhookEvent": "jira:issue_created"},
            None,
            "unrecognised Jira payload: jira:issue_created without an issue object",
        ),
        (
            "jira",
            {"webhookEvent": "ticket_opened", "issue": {"key": "IT-1"}},
            None,
            "unrecognised Jira event 'ticket_opened'",
        ),
        (
            "intercom",
            {"type": "notification_event", "topic": "conversation.user.replied", "data": {}},
            None,
            "unrecognised Intercom payload: conversation.user.replied without data.item",
        ),
        (
            "intercom",
            {"type": "notification_event", "topic": "thread.created", "data": {}},
            None,
            "unrecognised Intercom topic 'thread.created'",
        ),
        (
            "front",
            {"type": "escalate", "conversation": {"id": "cnv_1"}},
            None,
            "unrecognised Front event type 'escalate'",
        ),
        (
            "front",
            {
                "type": "inbound",
                "id": "evt_1",
                "emitted_at": 1795168800,
                "conversation": {"id": "cnv_1"},
                "target": {"data": {"recipients": [{"role": "from", "handle": "a@b.example"}]}},
            },
            None,
            "a new conversation cannot be told from a reply",
        ),
        (
            "zendesk",
            {"type": "zen:event-type:user.created", "detail": {"id": "9"}, "time": "2026-11-20T10:00:00Z"},
            None,
            "unrecognised Zendesk event type 'user.created'",
        ),
    ],
)
def test_a_verified_body_heard_cannot_place_is_a_dead_letter_naming_why(
    source: str, payload: dict[str, Any], headers: dict[str, str] | None, reason: str
) -> None:
    with pytest.raises(Unmappable, match=re.escape(reason)):
        map_payload(source, payload, headers)


@pytest.mark.parametrize(
    ("source", "payload", "headers"),
    [
        ("github", {"action": "opened"}, {"X-GitHub-Event": "pull_request"}),
        ("github", {}, {"X-GitHub-Event": "ping"}),
        ("jira", {"webhookEvent": "worklog_created"}, None),
        ("jira", {"webhookEvent": "sprint_started"}, None),
        (
            "intercom",
            {"type": "notification_event", "topic": "contact.user.created", "data": {"item": {}}},
            None,
        ),
        ("front", {"type": "tag", "conversation": {"id": "cnv_1"}}, None),
        (
            "zendesk",
            {
                "type": "zen:event-type:ticket.priority_changed",
                "detail": {"id": "9"},
                "time": "2026-11-20T10:00:00Z",
            },
            None,
        ),
    ],
)
def test_events_documented_but_not_used_are_ignored_by_name(
    source: str, payload: dict[str, Any], headers: dict[str, str] | None
) -> None:
    assert map_payload(source, payload, headers) == []


INTERCOM_ASSIGNED = {
    "type": "notification_event",
    "topic": "conversation.admin.assigned",
    "id": "notif_1",
    "created_at": 1795168800,
    "data": {
        "item": {
            "id": "ic-9",
            "assignee": {"type": "admin", "id": "814860", "name": "Priya Shah", "email": "priya@example.com"},
            "conversation_parts": {
                "conversation_parts": [
                    {
                        "part_type": "assignment",
                        "author": {"type": "admin", "id": "1", "name": "Routing Bot Admin"},
                        "assigned_to": {"type": "admin", "id": "814860"},
                    }
                ]
            },
        }
    },
}


def test_an_intercom_assignment_names_the_assignee_not_the_admin_who_assigned() -> None:
    [assigned] = map_payload("intercom", INTERCOM_ASSIGNED)
    assert (assigned["type"], assigned["agent"]["name"]) == ("ticket.assigned", "Priya Shah")
    part = INTERCOM_ASSIGNED["data"]["item"]["conversation_parts"]["conversation_parts"][0]
    to_team = json.loads(json.dumps(INTERCOM_ASSIGNED))
    to_team["data"]["item"]["conversation_parts"]["conversation_parts"][0] = {
        **part,
        "assigned_to": {"type": "team", "id": "5017691"},
    }
    assert map_payload("intercom", to_team) == []
    nameless = json.loads(json.dumps(INTERCOM_ASSIGNED))
    del nameless["data"]["item"]["assignee"]
    with pytest.raises(Unmappable, match="assignment names nobody"):
        map_payload("intercom", nameless)


def templated_created(**requester: str) -> dict[str, Any]:
    person = {"id": "1508", "name": "Amara Okafor", "email": "amara@example.net", **requester}
    return {
        "heard_event": "created",
        "ticket": {
            "id": "35437",
            "subject": "Parcel late",
            "status": "new",
            "updated_at": "2026-11-29T03:13:00Z",
            "requester": person,
            "assignee": {"name": "", "email": ""},
            "comment": {"body": "Hi"},
        },
    }


def map_zendesk(payload: dict[str, Any]) -> list[dict[str, Any]]:
    connector, settings = INGEST.sources["zendesk"]
    body = json.dumps(payload).encode()
    events = INGEST.map("zendesk", connector, settings, Request({}, body, None), payload, "d")
    return [json.loads(event_to_json(e)) for e in events]


def test_display_forms_are_read_and_an_unreadable_phone_costs_only_itself() -> None:
    payload = templated_created(phone="(555) 010-1234")
    payload["ticket"]["requester"].update({"timezone": "Eastern Time (US & Canada)", "language": "English"})
    [created] = map_zendesk(payload)
    customer = created["customer"]
    assert (customer["timezone"], customer["language"]) == ("America/New_York", "en")
    assert "phone" not in customer and customer["email"] == "amara@example.net"
    [warning] = created["warnings"]
    assert warning.startswith("customer.phone: not a phone number in E.164 or US national format")
    assert "555" not in warning  # the number stays out of logs and the decision log
    # The pure core acknowledges by email in the customer's own zone, and says what was left out.
    event = parse_event(json.dumps(created))
    outcome = decide(None, event, event.occurred_at, RULES)
    later = outcome.state.next_due()
    assert later is not None
    timer = parse_event(
        json.dumps(
            {
                "type": "heard.timer_due",
                "id": "t",
                "ticket_id": event.ticket_id,
                "occurred_at": later.isoformat(),
                "due_at": later.isoformat(),
            }
        ),
        internal=True,
    )
    sent = decide(outcome.state, timer, later, RULES)
    [ack] = sent.notifications
    assert (ack.kind, ack.channel, ack.timezone) == ("acknowledgment", "email", "America/New_York")
    assert any(d.outcome == "record" and "left out: customer.phone" in d.reason for d in outcome.decisions)


def test_national_numbers_and_locales_are_normalised() -> None:
    payload = templated_created(phone="(201) 555-0123")
    payload["ticket"]["requester"].update({"language": "pt_BR", "timezone": "(GMT+01:00) Paris"})
    [created] = map_zendesk(payload)
    assert (
        created["customer"]["phone"],
        created["customer"]["language"],
        created["customer"]["timezone"],
    ) == ("+12015550123", "pt-BR", "Europe/Paris")
    assert "warnings" not in created


def test_an_unreadable_event_time_is_a_dead_letter_never_now() -> None:
    payload = templated_created()
    payload["ticket"]["updated_at"] = "last Tuesday"
    with pytest.raises(Unmappable, match=r"ticket\.updated_at: no readable time"):
        map_zendesk(payload)


# Zendesk's event-subscribed webhooks, written from the documented envelope
# (developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/).
def zendesk_native(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": f"zen:event-type:ticket.{kind}",
        "account_id": 22129848,
        "id": "cbe4028c-7239-495d-b020-f22348516046",
        "subject": "zen:ticket:5158",
        "time": "2026-11-29T10:12:07.672717030Z",
        "zendesk_event_version": "2022-11-06",
        "detail": {"id": "5158", "subject": "Parcel late", "status": "OPEN", "requester_id": "8447388090495"},
        "event": event,
    }


def test_zendesk_native_events_map_by_the_author_role_or_say_why_not() -> None:
    staff = {
        "comment": {
            "id": "1",
            "body": "On it.",
            "is_public": True,
            "author": {"id": "9", "is_staff": True, "name": "Sam Reyes"},
        }
    }
    [reply] = map_zendesk(zendesk_native("comment_added", staff))
    assert (reply["type"], reply["public"], reply["agent"]["name"], reply["ticket_id"]) == (
        "ticket.agent_reply",
        True,
        "Sam Reyes",
        "zd-5158",
    )
    assert reply["occurred_at"].startswith("2026-11-29T10:12:07.672717")
    private = {"comment": {**staff["comment"], "is_public": False}}
    assert map_zendesk(zendesk_native("comment_added", private))[0]["public"] is False
    customer = {
        "comment": {
            "id": "2",
            "body": "Any news?",
            "is_public": True,
            "author": {"id": "8447388090495", "is_staff": False},
        }
    }
    assert map_zendesk(zendesk_native("comment_added", customer))[0]["type"] == ("ticket.customer_message")
    [status] = map_zendesk(zendesk_native("status_changed", {"current": "PENDING", "previous": "OPEN"}))
    assert (status["type"], status["to_status"]) == ("ticket.status_changed", "pending_customer")
    # A ticket deleted, archived or scrubbed in Zendesk is closed for heard: nothing more
    # is sent about it.
    for gone in ("DELETED", "ARCHIVED", "SCRUBBED"):
        [ended] = map_zendesk(zendesk_native("status_changed", {"current": gone}))
        assert ended["type"] == "ticket.closed", gone
    with pytest.raises(Unmappable, match="carries ids, not names or addresses"):
        map_zendesk(zendesk_native("created", {}))
    assert map_zendesk(zendesk_native("priority_changed", {"current": "HIGH"})) == []


def test_long_or_odd_optional_fields_cost_only_themselves() -> None:
    payload = templated_created(name="N" * 300, language="L" * 5000, timezone="US")
    payload["ticket"]["subject"] = "S " * 1500
    [created] = map_zendesk(payload)
    assert created["customer"]["name"].endswith("…") and len(created["customer"]["name"]) <= 200
    assert len(created["subject"]) <= 2000
    # Dropped: the contract's defaults apply (language en; the policy's zone).
    assert created["customer"]["language"] == "en" and "timezone" not in created["customer"]
    assert created["customer"]["email"] == "amara@example.net"
    assert all(len(warning) < 300 for warning in created["warnings"])
    assert any(
        w.startswith("customer.timezone: not an IANA or Rails time zone: 'US'") for w in created["warnings"]
    )


@pytest.mark.parametrize(
    "name", ["public_zulip_ticket_created", "public_zulip_status_changed", "public_zulip_public_note"]
)
def test_a_freshdesk_body_made_for_another_tool_is_refused_naming_the_body_heard_needs(name: str) -> None:
    with pytest.raises(
        Unmappable,
        match=re.escape(
            "unrecognised Freshdesk payload: no heard_event (use the body in docs/connectors.md)"
        ),
    ):
        mapped("freshdesk", name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "public_dust_created",
            "carries ids, not names or addresses; send new tickets with the trigger body",
        ),
        (
            "public_dust_agent_assignment_changed",
            "carries ids, not names or addresses; send assignments (the agent's name) with the trigger",
        ),
        ("public_dust_status_changed", "was solved but the payload has no closure summary"),
    ],
)
def test_zendesk_native_events_that_lack_what_a_message_needs_say_so(name: str, reason: str) -> None:
    # Zendesk's own ticket events carry ids: a new ticket has no requester name or address,
    # a solve no closure summary. The dead letter says which body to send instead.
    with pytest.raises(Unmappable) as refused:
        mapped("zendesk", name)
    assert reason in str(refused.value)


def test_a_zendesk_event_heard_does_not_use_is_ignored_by_name() -> None:
    assert mapped("zendesk", "public_dust_priority_changed") == []


def map_payload(
    source: str, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """A vendor body built in the test (the signature is checked elsewhere)."""
    body = json.dumps(payload).encode()
    connector, settings = INGEST.sources[source]
    request = Request(headers or {}, body, None)
    events = INGEST.map(
        source, connector, settings, request, payload, connector.delivery_id(request, payload)
    )
    return [json.loads(event_to_json(e)) for e in events]


def jira_comment(
    author: dict[str, Any],
    *,
    reporter: dict[str, Any] | None = None,
    assignee: dict[str, Any] | None = None,
    **comment: Any,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"summary": "VPN drops every hour"}
    if reporter is not None:
        fields["reporter"] = reporter
    if assignee is not None:
        fields["assignee"] = assignee
    return {
        "webhookEvent": "comment_created",
        "timestamp": 1795168800000,
        "issue": {"key": "IT-42", "fields": fields},
        "comment": {
            "author": author,
            "body": "Looking into it.",
            "created": "2026-11-20T10:00:00.000+0000",
            **comment,
        },
    }


AGENT_ACCOUNT = {
    "accountId": "5b10a2844c20165700ede21g",
    "displayName": "Priya Shah",
    "accountType": "atlassian",
}
PORTAL_CUSTOMER = {"accountId": "qm:1d0c5c4e", "displayName": "Dana Cole", "accountType": "customer"}


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        # A JSM internal comment is the team's, whoever the payload says wrote it.
        (jira_comment(AGENT_ACCOUNT, jsdPublic=False), ("ticket.agent_reply", False)),
        (
            jira_comment(dict(AGENT_ACCOUNT, accountType="customer"), jsdPublic=False),
            ("ticket.agent_reply", False),
        ),
        (jira_comment(PORTAL_CUSTOMER, jsdPublic=True), ("ticket.customer_message", None)),
        (jira_comment(AGENT_ACCOUNT, reporter=PORTAL_CUSTOMER, jsdPublic=True), ("ticket.agent_reply", True)),
        # An employee who raised the issue is its customer.
        (
            jira_comment(AGENT_ACCOUNT, reporter=AGENT_ACCOUNT, jsdPublic=True),
            ("ticket.customer_message", None),
        ),
        # Jira Software without a reporter: the assignee is the team, anyone else the customer.
        (jira_comment(AGENT_ACCOUNT, assignee=AGENT_ACCOUNT), ("ticket.agent_reply", True)),
        (jira_comment(dict(AGENT_ACCOUNT, accountId="someone-else")), ("ticket.customer_message", None)),
    ],
)
def test_jira_decides_who_wrote_a_comment_by_its_own_fields(
    comment: dict[str, Any], expected: tuple[str, bool | None]
) -> None:
    [event] = map_payload("jira", comment)
    assert (event["type"], event.get("public")) == expected


def test_a_jira_server_comment_sent_as_an_issue_update_is_read_as_a_comment() -> None:
    payload = jira_comment(PORTAL_CUSTOMER)
    payload.update(webhookEvent="jira:issue_updated", issue_event_type_name="issue_commented")
    [event] = map_payload("jira", payload)
    assert event["type"] == "ticket.customer_message"
    payload["comment"]["author"] = AGENT_ACCOUNT
    payload["issue"]["fields"]["assignee"] = AGENT_ACCOUNT
    [reply] = map_payload("jira", payload)
    assert (reply["type"], reply["agent"]["name"]) == ("ticket.agent_reply", "Priya Shah")


def test_an_unreadable_email_is_left_out_and_the_phone_still_reaches_the_customer() -> None:
    payload = {
        "heard_event": "created",
        "ticket": {
            "id": "2742",
            "subject": "Pago duplicado",
            "status": "Open",
            "updated_at": "2026-11-20T10:30:00Z",
            "requester": {
                "id": "4402",
                "name": "Lucía Romero",
                "email": "lucía romero@correo",
                "phone": "+52 55 1234 5678",
            },
        },
    }
    [created] = map_payload("freshdesk", payload)
    assert "email" not in created["customer"]
    assert created["customer"]["phone"] == "+525512345678"
    assert any(
        w.startswith("customer.email: not an email address heard can send to") for w in created["warnings"]
    )


def test_a_comment_on_a_pull_request_is_not_a_ticket() -> None:
    payload = {
        "action": "created",
        "repository": {"full_name": "octo/app"},
        "issue": {
            "number": 7,
            "title": "Fix the exporter",
            "user": {"login": "dev"},
            "pull_request": {"url": "https://api.github.com/repos/octo/app/pulls/7"},
        },
        "comment": {
            "user": {"login": "dev"},
            "author_association": "NONE",
            "body": "Rebased.",
            "created_at": "2026-11-20T10:00:00Z",
        },
    }
    assert map_payload("github", payload, {"X-GitHub-Event": "issue_comment"}) == []


def test_a_warning_about_a_senders_value_names_no_address_or_number() -> None:
    from heard.streams.connectors.normalise import iana_zone, language_tag

    with pytest.raises(ValueError) as language:
        language_tag("Klingon pat@example.net")
    assert str(language.value) == "not a language name or code heard knows: 'Klingon <email>'"
    with pytest.raises(ValueError) as zone:
        iana_zone("call +1 415 555 2671")
    assert "+1 415" not in str(zone.value) and "<phone>" in str(zone.value)
