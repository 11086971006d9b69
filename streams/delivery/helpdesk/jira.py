"""Jira Service Management: an internal comment is a comment whose `sd.public.comment`
property says `internal: true` (`POST /rest/api/3/issue/{key}/comment`, body in Atlassian
Document Format); Jira Cloud logs in with the account's email and an API token.

https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post
https://developer.atlassian.com/cloud/jira/service-desk/rest/intro/#jira-service-management-and-the-jira-platform-rest-apis
"""

from __future__ import annotations

from urllib.parse import quote

from heard.streams.delivery.helpdesk.request import NoteRequest, basic

NAME = "jira"
NEEDS_USER = True


def note(base_url: str, ticket_id: str, body: str, user: str | None = None) -> NoteRequest:
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in body.splitlines()
        if line
    ]
    return NoteRequest(
        "POST",
        f"{base_url.rstrip('/')}/rest/api/3/issue/{quote(ticket_id, safe='')}/comment",
        {
            "body": {"type": "doc", "version": 1, "content": paragraphs},
            "properties": [{"key": "sd.public.comment", "value": {"internal": True}}],
        },
    )


def login(user: str | None, token: str) -> dict[str, str]:
    return {"Authorization": basic(f"{user}:{token}")}
