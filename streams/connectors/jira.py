"""Jira Service Management: Jira Cloud webhooks with a secret (X-Hub-Signature: sha256=...).

Payloads: https://developer.atlassian.com/cloud/jira/platform/webhooks/
Who wrote a comment is decided by `comment_by_customer` (JSM's `accountType` and
`jsdPublic`, then the reporter); the team's comments are agent replies, public unless
JSM marks them `jsdPublic: false` (an internal note). Status changes
come from the changelog of `jira:issue_updated`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from heard.streams.connectors.base import (
    Activity,
    ActivityKind,
    Person,
    Request,
    Unmappable,
    body_digest,
    event_time,
    hub_signature_valid,
    parse_time,
)


def person(user: Any) -> Person | None:
    if not isinstance(user, Mapping) or not user.get("displayName"):
        return None
    return Person(
        str(user["displayName"]), email=user.get("emailAddress"), id=str(user.get("accountId") or "") or None
    )


def comment_by_customer(
    comment: Mapping[str, Any], reporter: Mapping[str, Any], assignee: Mapping[str, Any]
) -> bool:
    """Who wrote a comment, from the fields Jira gives (docs/connectors.md, "Jira"):

    1. An internal comment (`jsdPublic: false`) is the team's: a customer cannot write one.
    2. Jira Service Management marks portal customers `accountType: customer`; apps are
       `app`.
    3. Otherwise the reporter is the customer, when the payload names one.
    4. Jira Cloud's comment_created carries no reporter (and sets `jsdPublic` on every
       project's comments, so it does not tell a service desk either): the assignee's
       comments are the team's, anyone else's count as the customer's. Mistaking a
       colleague for the customer costs one needless acknowledgment; mistaking the
       customer for the team would cancel theirs, so the doubt goes to the customer.
    """
    author = comment.get("author") or {}
    account = author.get("accountId") or author.get("name")
    if comment.get("jsdPublic") is False:
        return False
    if author.get("accountType") == "customer":
        return True
    if author.get("accountType") == "app":
        return False
    if reporter:
        return bool(account) and account in (reporter.get("accountId"), reporter.get("name"))
    return not (account and account in (assignee.get("accountId"), assignee.get("name")))


class Jira:
    name = "jira"

    def authentic(self, request: Request) -> bool:
        return hub_signature_valid(request, "X-Hub-Signature")

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str:
        # X-Atlassian-Webhook-Identifier is outside the signature; the signed body (which
        # carries the event's timestamp) identifies the event.
        return body_digest(request.body)

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]:
        event = str(payload.get("webhookEvent", ""))
        now = datetime.now(UTC)
        if not event:
            raise Unmappable("unrecognised Jira payload: no webhookEvent")
        issue = payload.get("issue")
        if event in USED_EVENTS and not isinstance(issue, Mapping):
            raise Unmappable(f"unrecognised Jira payload: {event} without an issue object")
        if event not in USED_EVENTS:
            if event.startswith(UNUSED_FAMILIES):
                return [Activity("ignored", "-", now, why_ignored=f"Jira event {event!r}")]
            raise Unmappable(f"unrecognised Jira event {event[:64]!r}: not one Jira documents")
        assert isinstance(issue, Mapping)
        key = str(issue.get("key") or "")
        if not key:
            raise Unmappable("issue without a key")
        fields = issue.get("fields") or {}
        reporter = fields.get("reporter") or {}
        at = event_time(payload.get("timestamp"), f"Jira {event} timestamp")
        common: dict[str, Any] = {
            "ticket": key,
            "subject": fields.get("summary"),
            "tags": [str(x) for x in fields.get("labels") or []],
            "payload": payload,
        }
        if event == "jira:issue_created":
            customer = person(reporter)
            if customer is None:
                raise Unmappable("new issue without a reporter")
            return [
                Activity(
                    "created",
                    at=parse_time(fields.get("created"), at),
                    customer=customer,
                    agent=person(fields.get("assignee")),
                    **common,
                )
            ]
        if (
            event == "jira:issue_updated"
            and payload.get("issue_event_type_name") == "issue_commented"
            and isinstance(payload.get("comment"), Mapping)
        ):
            # Jira Server and Data Center send a new comment as an issue update.
            event = "comment_created"
        if event == "comment_created":
            return [comment_activity(payload, fields, at, common)]
        if event == "jira:issue_updated":
            return changes(payload, fields, at, common) or [
                Activity("ignored", key, now, why_ignored="no status or assignee change")
            ]
        return [Activity("ignored", key, now, why_ignored=f"Jira event {event!r}")]


def comment_activity(
    payload: Mapping[str, Any], fields: Mapping[str, Any], at: datetime, common: dict[str, Any]
) -> Activity:
    """A new comment: the customer's message, or the team's public reply or internal note."""
    comment = payload.get("comment") or {}
    author = comment.get("author") or {}
    when = parse_time(comment.get("created"), at)
    body = comment.get("body") if isinstance(comment.get("body"), str) else None
    if comment_by_customer(comment, fields.get("reporter") or {}, fields.get("assignee") or {}):
        return Activity("customer_message", at=when, body=body, **common)
    kind: ActivityKind = "agent_reply" if comment.get("jsdPublic", True) else "internal_note"
    return Activity(kind, at=when, agent=person(author) or Person("Support"), body=body, **common)


def changes(
    payload: Mapping[str, Any], fields: Mapping[str, Any], at: datetime, common: dict[str, Any]
) -> list[Activity]:
    """An issue update's changes heard reads: its status, and who it is assigned to."""
    found: list[Activity] = []
    for item in (payload.get("changelog") or {}).get("items") or []:
        if item.get("field") == "status":
            found.append(
                Activity(
                    "status",
                    at=at,
                    status=item.get("toString"),
                    agent=person(fields.get("assignee")),
                    **common,
                )
            )
        elif item.get("field") == "assignee" and person(fields.get("assignee")):
            found.append(Activity("assigned", at=at, agent=person(fields["assignee"]), **common))
    return found


# The events heard reads, and the families of the others Jira documents
# (https://developer.atlassian.com/cloud/jira/platform/webhooks/#registering-events-for-a-webhook):
# comments edited or deleted, issues deleted, worklogs, links, attachments, sprints, boards,
# projects, versions, users, fields' options and issue properties.
USED_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated", "comment_created"})
UNUSED_FAMILIES = (
    "jira:",
    "comment_",
    "worklog_",
    "issuelink_",
    "attachment_",
    "sprint_",
    "board_",
    "project_",
    "user_",
    "option_",
    "issue_property_",
    "issuetype_",
)
