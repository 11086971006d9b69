"""GitHub Issues: `issues` and `issue_comment` webhooks, signed with X-Hub-Signature-256.

Payloads: https://docs.github.com/en/webhooks/webhook-events-and-payloads#issues
The issue author is the customer; a comment by anyone else with write access
(OWNER, MEMBER, COLLABORATOR) is a public agent reply. GitHub does not share
e-mail addresses: map `customer_fields.email` to a field your bot adds, or heard
records the ticket and says why no message went out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from heard.streams.connectors.base import (
    Activity,
    Person,
    Request,
    Unmappable,
    body_digest,
    event_time,
    hub_signature_valid,
)

TEAM_ROLES = ("OWNER", "MEMBER", "COLLABORATOR")


class GitHub:
    name = "github"

    def authentic(self, request: Request) -> bool:
        return hub_signature_valid(request, "X-Hub-Signature-256")

    def delivery_id(self, request: Request, payload: Mapping[str, Any]) -> str:
        # X-GitHub-Delivery is outside the signature; the signed body identifies the event.
        return body_digest(request.body)

    def activities(self, request: Request, payload: Mapping[str, Any]) -> list[Activity]:
        event = request.headers.get("X-GitHub-Event", "")
        if not event:
            raise Unmappable("unrecognised GitHub request: no X-GitHub-Event header")
        action = str(payload.get("action", ""))
        issue = payload.get("issue")
        now = datetime.now(UTC)
        if event == "ping":
            return [Activity("ignored", "-", now, why_ignored="ping")]
        if event not in ("issues", "issue_comment"):
            return [Activity("ignored", "-", now, why_ignored=f"GitHub event {event!r}")]
        if not isinstance(issue, Mapping):
            raise Unmappable(f"unrecognised GitHub {event} payload: no issue object")
        number = str(issue.get("number") or "")
        if not number:
            raise Unmappable("issue without a number")
        repo = str((payload.get("repository") or {}).get("full_name") or "repo")
        ticket = f"{repo.replace('/', '.')}#{number}"
        author = issue.get("user") or {}
        labels = [str(label.get("name")) for label in issue.get("labels") or []]
        common: dict[str, Any] = {"ticket": ticket, "subject": issue.get("title"), "tags": labels,
                                  "payload": payload}
        if event == "issues":
            if action == "opened":
                return [Activity("created", at=event_time(issue.get("created_at"), "GitHub issue.created_at"),
                                 customer=Person(str(author.get("login")),
                                                 id=str(author.get("id"))), **common)]
            if action == "closed":
                closed = event_time(issue.get("closed_at"), "GitHub issue.closed_at")
                return [Activity("closed", at=closed, **common)]
            if action == "reopened":
                updated = event_time(issue.get("updated_at"), "GitHub issue.updated_at")
                return [Activity("reopened", at=updated, **common)]
            if action == "assigned" and payload.get("assignee"):
                login = str(payload["assignee"].get("login"))
                updated = event_time(issue.get("updated_at"), "GitHub issue.updated_at")
                return [Activity("assigned", at=updated, agent=Person(login, id=login),
                                 **common)]
            return [Activity("ignored", ticket, now, why_ignored=f"issues.{action}")]
        comment = payload.get("comment") or {}
        if action != "created":
            return [Activity("ignored", ticket, now, why_ignored=f"issue_comment.{action}")]
        at = event_time(comment.get("created_at"), "GitHub comment.created_at")
        user = comment.get("user") or {}
        # The commenter's role in the repository decides, never "same person who opened it":
        # a maintainer replying on an issue they opened themselves is still the team.
        if comment.get("author_association") in TEAM_ROLES:
            login = str(user.get("login"))
            return [Activity("agent_reply", at=at, agent=Person(login, id=login),
                             body=comment.get("body"), **common)]
        if user.get("login") == author.get("login"):
            return [Activity("customer_message", at=at, body=comment.get("body"), **common)]
        return [Activity("ignored", ticket, now, why_ignored="comment by a third party")]
