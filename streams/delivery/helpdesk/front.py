"""Front: a comment on the conversation (`POST /conversations/{id}/comments`); comments are
the team's own discussion and never reach the customer. An API token logs in as a bearer.

https://dev.frontapp.com/reference/add-comment
https://dev.frontapp.com/docs/create-and-revoke-api-tokens
"""

from __future__ import annotations

from urllib.parse import quote

from heard.streams.delivery.helpdesk.request import NoteRequest

NAME = "front"
NEEDS_USER = False


def note(base_url: str, ticket_id: str, body: str, user: str | None = None) -> NoteRequest:
    return NoteRequest(
        "POST", f"{base_url.rstrip('/')}/conversations/{quote(ticket_id, safe='')}/comments", {"body": body}
    )


def login(user: str | None, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
