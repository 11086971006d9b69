"""Freshdesk: a private note on the ticket (`POST /api/v2/tickets/{id}/notes` with
`private: true`, body in HTML); the API key logs in as the user, with any password.

https://developers.freshdesk.com/api/#add_note_to_a_ticket
https://developers.freshdesk.com/api/#authentication
"""

from __future__ import annotations

from urllib.parse import quote

from heard.streams.delivery.helpdesk.request import NoteRequest, basic, html_lines

NAME = "freshdesk"
NEEDS_USER = False


def note(base_url: str, ticket_id: str, body: str, user: str | None = None) -> NoteRequest:
    return NoteRequest(
        "POST",
        f"{base_url.rstrip('/')}/api/v2/tickets/{quote(ticket_id, safe='')}/notes",
        {"body": html_lines(body), "private": True},
    )


def login(user: str | None, token: str) -> dict[str, str]:
    return {"Authorization": basic(f"{token}:X")}
