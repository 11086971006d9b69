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


# Every other event GitHub documents (https://docs.github.com/en/webhooks/webhook-events-and-
# payloads): none of them is a ticket's, so a repository hook sending "everything" is fine.
UNUSED_EVENTS = frozenset(
    {
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
    }
)


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
        if event in UNUSED_EVENTS:
            return [Activity("ignored", "-", now, why_ignored=f"GitHub event {event!r}")]
        if event not in ("issues", "issue_comment"):
            raise Unmappable(
                f"unrecognised GitHub event {event[:64]!r}: not one GitHub "
                "documents (docs.github.com/webhooks/webhook-events-and-payloads)"
            )
        if not isinstance(issue, Mapping):
            raise Unmappable(f"unrecognised GitHub {event} payload: no issue object")
        number = str(issue.get("number") or "")
        if not number:
            raise Unmappable("issue without a number")
        repo = str((payload.get("repository") or {}).get("full_name") or "repo")
        ticket = f"{repo.replace('/', '.')}#{number}"
        labels = [str(label.get("name")) for label in issue.get("labels") or []]
        common: dict[str, Any] = {
            "ticket": ticket,
            "subject": issue.get("title"),
            "tags": labels,
            "payload": payload,
        }
        if event == "issues":
            return [issue_activity(action, issue, payload, common, now)]
        return [comment_activity(action, issue, payload, common, now)]


def issue_activity(
    action: str, issue: Mapping[str, Any], payload: Mapping[str, Any], common: dict[str, Any], now: datetime
) -> Activity:
    """An `issues` event: opened, closed, reopened or assigned; any other action is ignored."""
    if action == "opened":
        author = issue.get("user") or {}
        return Activity(
            "created",
            at=event_time(issue.get("created_at"), "GitHub issue.created_at"),
            customer=Person(str(author.get("login")), id=str(author.get("id"))),
            **common,
        )
    if action == "closed":
        closed = event_time(issue.get("closed_at"), "GitHub issue.closed_at")
        return Activity("closed", at=closed, **common)
    if action == "reopened":
        updated = event_time(issue.get("updated_at"), "GitHub issue.updated_at")
        return Activity("reopened", at=updated, **common)
    if action == "assigned" and payload.get("assignee"):
        login = str(payload["assignee"].get("login"))
        updated = event_time(issue.get("updated_at"), "GitHub issue.updated_at")
        return Activity("assigned", at=updated, agent=Person(login, id=login), **common)
    return Activity("ignored", common["ticket"], now, why_ignored=f"issues.{action}")


def comment_activity(
    action: str, issue: Mapping[str, Any], payload: Mapping[str, Any], common: dict[str, Any], now: datetime
) -> Activity:
    """An `issue_comment` event: the customer's message, the team's reply, or ignored."""
    ticket = common["ticket"]
    if "pull_request" in issue:
        # GitHub sends pull-request conversations as issue comments too: not a ticket.
        return Activity("ignored", ticket, now, why_ignored="comment on a pull request")
    if action != "created":
        return Activity("ignored", ticket, now, why_ignored=f"issue_comment.{action}")
    comment = payload.get("comment") or {}
    at = event_time(comment.get("created_at"), "GitHub comment.created_at")
    user = comment.get("user") or {}
    # The commenter's role in the repository decides, never "same person who opened it":
    # a maintainer replying on an issue they opened themselves is still the team.
    if comment.get("author_association") in TEAM_ROLES:
        login = str(user.get("login"))
        return Activity(
            "agent_reply", at=at, agent=Person(login, id=login), body=comment.get("body"), **common
        )
    if user.get("login") == (issue.get("user") or {}).get("login"):
        return Activity("customer_message", at=at, body=comment.get("body"), **common)
    return Activity("ignored", ticket, now, why_ignored="comment by a third party")
