"""Zendesk Support: an internal note is a ticket comment with `public: false`, added by
updating the ticket (`PUT /api/v2/tickets/{id}.json`); API tokens log in as
`{email}/token` with the token as password.

https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket
https://developer.zendesk.com/api-reference/introduction/security-and-auth/#api-token
"""

from __future__ import annotations

from urllib.parse import quote

from heard.streams.delivery.helpdesk.request import NoteRequest, basic

NAME = "zendesk"
NEEDS_USER = True


def note(base_url: str, ticket_id: str, body: str, user: str | None = None) -> NoteRequest:
    return NoteRequest(
        "PUT",
        f"{base_url.rstrip('/')}/api/v2/tickets/{quote(ticket_id, safe='')}.json",
        {"ticket": {"comment": {"body": body, "public": False}}},
    )


def login(user: str | None, token: str) -> dict[str, str]:
    return {"Authorization": basic(f"{user}/token:{token}")}
