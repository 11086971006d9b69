"""Write-back: what heard said and heard, as an internal note on the help desk's own ticket,
so an agent reading the ticket sees it beside the help desk's own messages.

One module per help desk: `NAME`, `NEEDS_USER`, `note(base_url, ticket_id, body, user)` and
`login(user, token)`. The client that posts notes is `.client`; the agent that batches the
lines per ticket is `heard.streams.worker.helpdesk_notes`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from heard.streams.delivery.helpdesk import freshdesk, front, intercom, jira, zendesk
from heard.streams.delivery.helpdesk.request import NoteRequest


@dataclass(frozen=True)
class HelpDesk:
    name: str
    # (API origin, the desk's ticket id, the note's lines, the user setting) -> the request.
    note: Callable[[str, str, str, str | None], NoteRequest]
    # (user, token) -> the headers that log in.
    login: Callable[[str | None, str], dict[str, str]]
    # Whether `user_env` is needed (Zendesk's and Jira's logins, Intercom's admin id).
    needs_user: bool


HELPDESKS: dict[str, HelpDesk] = {
    module.NAME: HelpDesk(module.NAME, module.note, module.login, module.NEEDS_USER)
    for module in (zendesk, jira, freshdesk, intercom, front)
}

__all__ = ["HELPDESKS", "HelpDesk", "NoteRequest"]
