"""Intercom: a note on the conversation (`POST /conversations/{id}/reply` with
`message_type: note`), written as an admin (the user setting is the admin's id); an access
token logs in as a bearer.

https://developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/replyconversation
"""

from __future__ import annotations

from urllib.parse import quote

from heard.streams.delivery.helpdesk.request import NoteRequest, html_lines

NAME = "intercom"
NEEDS_USER = True


def note(base_url: str, ticket_id: str, body: str, user: str | None = None) -> NoteRequest:
    return NoteRequest(
        "POST",
        f"{base_url.rstrip('/')}/conversations/{quote(ticket_id, safe='')}/reply",
        {"message_type": "note", "type": "admin", "admin_id": user or "", "body": html_lines(body)},
    )


def login(user: str | None, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Intercom-Version": "2.14"}
