"""Who wrote it, per vendor: the customer, the team, a third party or a bot. Each payload is
the vendor's own shape (a recorded fixture) with only its author changed, and each is read
through the connector and the ingest mapping that a real webhook goes through."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from heard.streams.connectors.base import Request, Unmappable
from tests.peers import REPO
from tests.unit.test_connectors import INGEST, INTERCOM_ASSIGNED, map_payload

FIXTURES = REPO / "tests" / "fixtures" / "connectors"


def fixture(source: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / source / f"{name}.json").read_text(encoding="utf-8"))
    return data


def activities(source: str, payload: dict[str, Any], headers: dict[str, str]) -> list[Any]:
    connector, _ = INGEST.sources[source]
    return list(connector.activities(Request(headers, json.dumps(payload).encode(), None), payload))


# ------------------------------------------------------------------ GitHub
GITHUB_COMMENT = {"X-GitHub-Event": "issue_comment"}


def github_comment(login: str, association: str, user_type: str = "User") -> dict[str, Any]:
    payload = fixture("github", "issue_comment_created")
    payload["comment"]["user"] = {"login": login, "id": 77, "type": user_type}
    payload["comment"]["author_association"] = association
    return payload


@pytest.mark.parametrize(
    ("author", "payload", "expected"),
    [
        ("the customer", github_comment("octocat", "NONE"), ("ticket.customer_message", None, None)),
        (
            "the customer, a contributor",
            github_comment("octocat", "CONTRIBUTOR"),
            ("ticket.customer_message", None, None),
        ),
        ("a member", github_comment("hubot", "MEMBER"), ("ticket.agent_reply", True, "hubot")),
        ("the owner", github_comment("mona", "OWNER"), ("ticket.agent_reply", True, "mona")),
        ("a collaborator", github_comment("lisa", "COLLABORATOR"), ("ticket.agent_reply", True, "lisa")),
        # A maintainer who opened the issue is still the team when they comment.
        (
            "a member who opened it",
            github_comment("octocat", "MEMBER"),
            ("ticket.agent_reply", True, "octocat"),
        ),
    ],
)
def test_github_reads_a_comments_author_by_their_role_in_the_repository(
    author: str, payload: dict[str, Any], expected: tuple[str, bool | None, str | None]
) -> None:
    [event] = map_payload("github", payload, GITHUB_COMMENT)
    assert (event["type"], event.get("public"), (event.get("agent") or {}).get("name")) == expected, author


@pytest.mark.parametrize(
    ("author", "payload"),
    [
        ("a third party", github_comment("passer-by", "NONE")),
        ("a first-time contributor", github_comment("newcomer", "FIRST_TIME_CONTRIBUTOR")),
        ("a bot", github_comment("github-actions[bot]", "NONE", user_type="Bot")),
        ("a bot that contributed", github_comment("dependabot[bot]", "CONTRIBUTOR", user_type="Bot")),
    ],
)
def test_github_ignores_a_comment_by_anyone_else_and_says_so(author: str, payload: dict[str, Any]) -> None:
    assert map_payload("github", payload, GITHUB_COMMENT) == [], author
    [ignored] = activities("github", payload, GITHUB_COMMENT)
    assert (ignored.kind, ignored.why_ignored) == ("ignored", "comment by a third party")


def test_github_names_the_issue_author_as_the_customer_and_the_assignee_as_the_agent() -> None:
    [created] = map_payload("github", fixture("github", "issues_opened"), {"X-GitHub-Event": "issues"})
    assert created["customer"]["name"] == "octocat"
    assigned = fixture("github", "public_issues_assigned")
    assigned["sender"] = {"login": "mona", "id": 3, "type": "User"}  # the one who assigned
    [event] = map_payload("github", assigned, {"X-GitHub-Event": "issues"})
    assert event["type"] == "ticket.assigned"
    assert event["agent"]["name"] == assigned["assignee"]["login"]


# ------------------------------------------------------------------ Intercom
def intercom(topic: str, author: dict[str, Any]) -> dict[str, Any]:
    """The recorded user.replied body, as `topic`, its last part written by `author`."""
    payload = copy.deepcopy(fixture("intercom", "public_user_replied"))
    payload["topic"] = topic
    payload["data"]["item"]["conversation_parts"]["conversation_parts"][-1]["author"] = author
    return payload


ADMIN = {"type": "admin", "id": "1957471", "name": "Priya Shah", "email": "priya@example.com"}
BOT = {"type": "bot", "id": "814860", "name": "Fin", "email": "operator+i6wc9ipe@intercom.io"}
LEAD = {"type": "lead", "id": "5c9553cb27e377f24eed49f7", "name": "Eeshan Garg"}
USER = {"type": "user", "id": "5c9553cb27e377f24eed49f7", "name": "Eeshan Garg"}


@pytest.mark.parametrize(
    ("topic", "author", "expected"),
    [
        ("conversation.user.replied", USER, ("ticket.customer_message", None, None)),
        ("conversation.user.replied", LEAD, ("ticket.customer_message", None, None)),
        ("conversation.admin.replied", ADMIN, ("ticket.agent_reply", True, "Priya Shah")),
        ("conversation.admin.noted", ADMIN, ("ticket.agent_reply", False, "Priya Shah")),
    ],
)
def test_intercom_reads_who_wrote_by_the_topic_and_the_last_parts_author(
    topic: str, author: dict[str, Any], expected: tuple[str, bool | None, str | None]
) -> None:
    [event] = map_payload("intercom", intercom(topic, author))
    assert (event["type"], event.get("public"), (event.get("agent") or {}).get("name")) == expected


@pytest.mark.parametrize(
    "topic", ["conversation.admin.replied", "conversation.admin.noted", "conversation.user.replied"]
)
def test_intercom_ignores_what_a_bot_wrote_whatever_the_topic(topic: str) -> None:
    payload = intercom(topic, BOT)
    assert map_payload("intercom", payload) == []
    [ignored] = activities("intercom", payload, {})
    assert ignored.why_ignored == f"{topic} by a bot (Fin, operator): not the team's reply"


def intercom_created(*authors: dict[str, Any] | None) -> dict[str, Any]:
    """A new conversation whose candidate customers (item.user, the source's author, the first
    message's author, the first part's author) are `authors`, in that order."""
    payload = copy.deepcopy(fixture("intercom", "public_user_created"))
    payload["topic"] = "conversation.user.created"
    item = payload["data"]["item"]
    user, source, message, part = (list(authors) + [None] * 4)[:4]
    item["user"] = user
    item["source"] = {"subject": "", "body": "<p>Hello</p>", "author": source}
    item["conversation_message"] = {"subject": "", "body": "<p>Hello</p>", "author": message}
    item["conversation_parts"] = {
        "conversation_parts": [{"body": "<p>Hi</p>", "author": part}] if part else []
    }
    return payload


@pytest.mark.parametrize(
    ("authors", "customer"),
    [
        ((None, {**USER, "email": "eeshan@example.com"}), "Eeshan Garg"),
        ((BOT, {**LEAD, "name": None, "email": "lead@example.com"}), "lead@example.com"),
        ((ADMIN, BOT, {"type": "contact", "id": "c1", "name": "Dana Cole"}), "Dana Cole"),
        ((None, None, None, {"type": "user", "id": "u1", "name": "Kim Lee"}), "Kim Lee"),
    ],
)
def test_intercom_takes_the_customer_from_the_first_author_who_is_a_person_writing_in(
    authors: tuple[dict[str, Any] | None, ...], customer: str
) -> None:
    [created] = map_payload("intercom", intercom_created(*authors))
    assert created["type"] == "ticket.created" and created["customer"]["name"] == customer
    assert "intercom.io" not in json.dumps(created["customer"])


def test_intercom_refuses_a_new_conversation_written_only_by_the_team_or_a_bot() -> None:
    with pytest.raises(Unmappable, match="without the customer's name or email"):
        map_payload("intercom", intercom_created(ADMIN, BOT, BOT, ADMIN))


@pytest.mark.parametrize("action", ["labeled", "edited", "milestoned", "unassigned"])
def test_github_ignores_issue_actions_that_tell_the_customer_nothing_and_names_them(action: str) -> None:
    payload = fixture("github", "issues_opened")
    payload["action"] = action
    payload["assignee"] = {"login": "mona"}  # GitHub sends the issue's assignee with any action
    headers = {"X-GitHub-Event": "issues"}
    assert map_payload("github", payload, headers) == []
    [ignored] = activities("github", payload, headers)
    assert (ignored.kind, ignored.why_ignored) == ("ignored", f"issues.{action}")


# GitHub's webhook events, as docs.github.com/en/webhooks/webhook-events-and-payloads lists
# them (2026-12), other than `issues`, `issue_comment` and `ping`: none is a ticket's.
GITHUB_DOCUMENTED_OTHERS = [
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "github_app_authorization",
    "gollum",
    "installation",
    "installation_repositories",
    "installation_target",
    "issue_dependencies",
    "label",
    "marketplace_purchase",
    "member",
    "membership",
    "merge_group",
    "meta",
    "milestone",
    "org_block",
    "organization",
    "package",
    "page_build",
    "personal_access_token_request",
    "project",
    "project_card",
    "project_column",
    "projects_v2",
    "projects_v2_item",
    "projects_v2_status_update",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "secret_scanning_scan",
    "security_advisory",
    "security_and_analysis",
    "sponsorship",
    "star",
    "status",
    "sub_issues",
    "team",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
]


def test_github_ignores_every_other_documented_event_by_name_and_refuses_an_unknown_one() -> None:
    body = {"action": "created", "repository": {"full_name": "octo/app"}}
    for event in GITHUB_DOCUMENTED_OTHERS:
        [ignored] = activities("github", body, {"X-GitHub-Event": event})
        assert (ignored.kind, ignored.ticket, ignored.why_ignored) == (
            "ignored",
            "-",
            f"GitHub event {event!r}",
        )
    [ping] = activities("github", {"zen": "Design for failure."}, {"X-GitHub-Event": "ping"})
    assert (ping.kind, ping.ticket, ping.why_ignored) == ("ignored", "-", "ping")
    with pytest.raises(
        Unmappable, match=r"^unrecognised GitHub event 'issue_typo': not one GitHub documents"
    ):
        activities("github", body, {"X-GitHub-Event": "issue_typo"})
    with pytest.raises(Unmappable, match=r"^unrecognised GitHub request: no X-GitHub-Event header$"):
        activities("github", body, {})


def test_github_maps_an_issue_whole() -> None:
    payload = fixture("github", "issues_opened")
    payload["issue"]["labels"] = [{"name": "bug"}, {"name": "urgent"}]
    [created] = activities("github", payload, {"X-GitHub-Event": "issues"})
    assert (created.kind, created.ticket, created.subject) == (
        "created",
        "octocat.Hello-World#1347",
        "Export to CSV drops the last row",
    )
    assert created.tags == ["bug", "urgent"]
    assert (created.customer.name, created.customer.id) == ("octocat", "1")
    comment = github_comment("octocat", "NONE")
    [message] = activities("github", comment, GITHUB_COMMENT)
    assert (message.kind, message.body) == ("customer_message", comment["comment"]["body"])
    [reply] = activities("github", github_comment("hubot", "MEMBER"), GITHUB_COMMENT)
    assert (reply.kind, reply.agent.name, reply.agent.id, reply.body) == (
        "agent_reply",
        "hubot",
        "hubot",
        comment["comment"]["body"],
    )


@pytest.mark.parametrize(
    ("event", "action", "field", "reason"),
    [
        ("issues", "opened", "created_at", "GitHub issue.created_at"),
        ("issues", "closed", "closed_at", "GitHub issue.closed_at"),
        ("issues", "reopened", "updated_at", "GitHub issue.updated_at"),
        ("issue_comment", "created", None, "GitHub comment.created_at"),
    ],
)
def test_github_names_the_field_whose_time_it_cannot_read(
    event: str, action: str, field: str | None, reason: str
) -> None:
    payload = fixture("github", "issue_comment_created" if event == "issue_comment" else "issues_opened")
    payload["action"] = action
    if field is None:
        payload["comment"]["created_at"] = "yesterday"
    else:
        payload["issue"][field] = "yesterday"
    with pytest.raises(Unmappable, match="^" + re.escape(reason) + ": no readable time"):
        activities("github", payload, {"X-GitHub-Event": event})


def test_github_ignores_a_comment_that_is_not_new_or_on_a_pull_request_by_name() -> None:
    edited = github_comment("octocat", "NONE")
    edited["action"] = "edited"
    [ignored] = activities("github", edited, GITHUB_COMMENT)
    assert (ignored.kind, ignored.why_ignored) == ("ignored", "issue_comment.edited")
    on_pr = github_comment("octocat", "NONE")
    on_pr["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/a/pulls/7"}
    [ignored] = activities("github", on_pr, GITHUB_COMMENT)
    assert (ignored.kind, ignored.why_ignored) == ("ignored", "comment on a pull request")
    no_number = github_comment("octocat", "NONE")
    del no_number["issue"]["number"]
    with pytest.raises(Unmappable, match=r"^issue without a number"):
        activities("github", no_number, GITHUB_COMMENT)


# A topic of each family Intercom documents besides conversations
# (developers.intercom.com/docs/references/webhooks/webhook-models).
INTERCOM_OTHER_TOPICS = [
    "contact.user.created",
    "user.created",
    "company.created",
    "visitor.signed_up",
    "ticket.created",
    "event.created",
    "content_stat.article",
    "admin.away_mode_updated",
    "job.completed",
    "conversation_part.redacted",
    "data_connector.execution.completed",
    "news_item.created",
    "segment.updated",
    "ping",
]


@pytest.mark.parametrize("topic", INTERCOM_OTHER_TOPICS)
def test_intercom_ignores_every_other_documented_topic_by_name(topic: str) -> None:
    payload = {"type": "notification_event", "topic": topic, "created_at": 1795168800, "data": {"item": {}}}
    [ignored] = activities("intercom", payload, {})
    assert (ignored.kind, ignored.ticket, ignored.why_ignored) == (
        "ignored",
        "-",
        f"Intercom topic {topic!r}",
    )


def test_github_an_assignment_without_an_assignee_is_ignored_by_name() -> None:
    payload = fixture("github", "public_issues_assigned")
    payload["assignee"] = None
    [ignored] = activities("github", payload, {"X-GitHub-Event": "issues"})
    assert (ignored.kind, ignored.why_ignored) == ("ignored", "issues.assigned")


def test_intercom_refuses_a_topic_it_does_not_document() -> None:
    payload = {"type": "notification_event", "topic": "conversation_typo.created", "data": {"item": {}}}
    with pytest.raises(Unmappable, match=r"^unrecognised Intercom topic 'conversation_typo\.created'"):
        activities("intercom", payload, {})


def test_intercom_reads_each_conversation_topic_by_its_last_part() -> None:
    said = {
        topic: activities("intercom", intercom(topic, ADMIN), {})[0]
        for topic in (
            "conversation.user.replied",
            "conversation.admin.replied",
            "conversation.admin.noted",
            "conversation.admin.closed",
            "conversation.admin.opened",
            "conversation.admin.snoozed",
            "conversation.rating.added",
        )
    }
    body = "Well, I need some help getting access to a developer account."
    assert (said["conversation.user.replied"].kind, said["conversation.user.replied"].body) == (
        "customer_message",
        body,
    )
    for topic, kind in (
        ("conversation.admin.replied", "agent_reply"),
        ("conversation.admin.noted", "internal_note"),
    ):
        activity = said[topic]
        assert (activity.kind, activity.body) == (kind, body)
        assert (activity.agent.name, activity.agent.email, activity.agent.id) == (
            "Priya Shah",
            "priya@example.com",
            "1957471",
        )
    closed = said["conversation.admin.closed"]
    assert (closed.kind, closed.status, closed.body, closed.agent.name) == (
        "status",
        "closed",
        body,
        "Priya Shah",
    )
    assert said["conversation.admin.opened"].kind == "reopened"
    snoozed = said["conversation.admin.snoozed"]
    assert (snoozed.kind, snoozed.status) == ("status", "snoozed")
    rating = said["conversation.rating.added"]
    assert (rating.kind, rating.ticket, rating.why_ignored) == (
        "ignored",
        "21322009097",
        "conversation.rating.added",
    )
    anonymous = activities("intercom", intercom("conversation.admin.replied", {"type": "admin"}), {})[0]
    assert (anonymous.agent.name, anonymous.agent.email, anonymous.agent.id) == ("Support", None, None)


def intercom_assigned(assigned_to: dict[str, Any] | None, assignee: dict[str, Any] | None) -> dict[str, Any]:
    payload = copy.deepcopy(INTERCOM_ASSIGNED_BASE)
    item = payload["data"]["item"]
    item["conversation_parts"]["conversation_parts"][0]["assigned_to"] = assigned_to
    item["assignee"] = assignee
    return payload


# Intercom's assignment as test_connectors has it: one part, by the admin who assigned.
INTERCOM_ASSIGNED_BASE: dict[str, Any] = INTERCOM_ASSIGNED


def test_intercom_names_the_person_a_conversation_was_assigned_to_or_says_why_not() -> None:
    priya = {"type": "admin", "id": "814860", "name": "Priya Shah", "email": "priya@example.com"}
    [direct] = activities("intercom", intercom_assigned(priya, None), {})
    assert (direct.kind, direct.agent.name, direct.agent.email, direct.agent.id) == (
        "assigned",
        "Priya Shah",
        "priya@example.com",
        "814860",
    )
    [by_item] = activities("intercom", intercom_assigned({"type": "admin", "id": "814860"}, priya), {})
    assert (by_item.kind, by_item.agent.name) == ("assigned", "Priya Shah")
    [nobody] = activities("intercom", intercom_assigned({"type": "nobody_admin"}, priya), {})
    assert (nobody.kind, nobody.ticket, nobody.why_ignored) == ("ignored", "ic-9", "unassigned")
    team_inbox = {"type": "team", "id": "5", "name": "Billing"}
    for assigned_to, assignee in ((team_inbox, None), (None, team_inbox)):
        [team] = activities("intercom", intercom_assigned(assigned_to, assignee), {})
        assert (team.kind, team.why_ignored) == ("ignored", "assigned to a team inbox, not a person")
    with pytest.raises(Unmappable, match=r"^Intercom assignment names nobody: assigned_to has no name"):
        activities("intercom", intercom_assigned({"type": "admin", "id": "9"}, None), {})


def test_intercom_refuses_what_is_not_a_notification_and_names_a_delivery_by_its_id() -> None:
    for payload in ({"topic": "conversation.user.replied"}, {"type": "notification_event"}):
        with pytest.raises(Unmappable, match=r"^unrecognised Intercom payload: not a notification_event"):
            activities("intercom", payload, {})
    connector, _ = INGEST.sources["intercom"]
    body = json.dumps(INTERCOM_ASSIGNED_BASE).encode()
    assert connector.delivery_id(Request({}, body, None), INTERCOM_ASSIGNED_BASE) == "notif_1"
    without = {key: value for key, value in INTERCOM_ASSIGNED_BASE.items() if key != "id"}
    from heard.streams.connectors.base import body_digest

    assert connector.delivery_id(Request({}, body, None), without) == body_digest(body)


def test_intercom_maps_a_new_conversation_whole_and_refuses_one_without_an_id() -> None:
    payload = intercom_created({**USER, "email": "eeshan@example.com"})
    item = payload["data"]["item"]
    item["tags"] = {"type": "tag.list", "tags": [{"name": "vip"}, {"name": "billing"}]}
    item["source"] = None  # older payloads keep the first message here instead
    item["conversation_message"] = {"subject": "", "body": "<p>My invoice is wrong</p>", "author": None}
    [created] = activities("intercom", payload, {})
    assert (created.kind, created.subject, created.body, created.tags) == (
        "created",
        "My invoice is wrong",
        "My invoice is wrong",
        ["vip", "billing"],
    )
    del item["id"]
    with pytest.raises(Unmappable, match=r"^conversation without an id$"):
        activities("intercom", payload, {})
    with pytest.raises(
        Unmappable, match=r"^new conversation without the customer's name or email \(looked in"
    ):
        activities("intercom", intercom_created(ADMIN), {})


def test_intercom_an_assignment_to_a_person_is_not_a_team_inbox_because_the_item_says_so() -> None:
    priya = {"type": "admin", "id": "814860", "name": "Priya Shah"}
    [assigned] = activities(
        "intercom", intercom_assigned(priya, {"type": "team", "id": "5", "name": "Billing"}), {}
    )
    assert (assigned.kind, assigned.agent.name) == ("assigned", "Priya Shah")


def test_github_names_the_assignee_by_login_as_name_and_id() -> None:
    [assigned] = activities(
        "github", fixture("github", "public_issues_assigned"), {"X-GitHub-Event": "issues"}
    )
    assert (assigned.agent.name, assigned.agent.id) == ("Codertocat", "Codertocat")


def test_github_an_issues_event_without_an_action_is_ignored_as_such() -> None:
    payload = fixture("github", "issues_opened")
    del payload["action"]
    [ignored] = activities("github", payload, {"X-GitHub-Event": "issues"})
    assert (ignored.kind, ignored.why_ignored) == ("ignored", "issues.")
