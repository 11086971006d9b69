"""Write-back: what heard said and heard, as an internal note on the help desk's own ticket,
so an agent reading the ticket sees it beside the help desk's own messages. One module per
help desk (`NAME`, `note(base_url, ticket_id, body)`, `login(user, token)`); the agent that
batches the lines per ticket and the client that posts them are in `heard.streams.worker.
helpdesk_notes` and `.client`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from heard.streams.delivery.helpdesk import jira, zendesk
from heard.streams.delivery.helpdesk.request import NoteRequest


@dataclass(frozen=True)
class HelpDesk:
    name: str
    note: Callable[[str, str, str], NoteRequest]
    login: Callable[[str, str], aiohttp.BasicAuth]


HELPDESKS: dict[str, HelpDesk] = {
    module.NAME: HelpDesk(module.NAME, module.note, module.login) for module in (zendesk, jira)
}

__all__ = ["HELPDESKS", "HelpDesk", "NoteRequest"]
