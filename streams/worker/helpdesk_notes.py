"""The help-desk-notes agent: what heard told each customer, and what they chose and said,
written back to the help desk's ticket as internal notes.

It reads what heard already records — the outcomes on `notification-events` and the answers
on `heard-replies` — so write-back adds no record to a message's path. Records come in
batches; each ticket's lines in a batch become one note (a burst of messages is one note).
A help desk that is slow or down holds only this agent: sending to customers goes on. A note
it still refuses after its retries leaves its records as dead letters with the help desk's
answer (replayable once it is back).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import Counter

from heard.streams.base.settings import TopicNames
from heard.streams.worker.sink import DeadLetters, InboundRecord

log = logging.getLogger("heard.worker")
STAGE = "helpdesk-notes"
NOTES = Counter("heard_helpdesk_notes_total", "Internal notes written back to the help desk", ["result"])

# The outcomes a note tells of (deliveries confirmed, retries and provider reports are not news).
TOLD = {
    "sent": "sent",
    "suppressed": "not sent",
    "failed": "not sent",
    "bounced": "bounced",
    "complained": "was marked as spam",
    "unsubscribed": "was unsubscribed from",
    "undelivered": "was not delivered",
}
HEADING = "heard, to and from the customer:"


class Writer(Protocol):
    async def post(self, ticket_id: str, body: str) -> None: ...


def _when(at: Any) -> str:
    try:
        return datetime.fromisoformat(str(at)).strftime("%d %b %H:%M UTC")
    except ValueError:
        return "?"


def outcome_line(event: dict[str, Any]) -> str | None:
    """One delivery outcome in words, or None when it is not news for the team."""
    status = str(event.get("status"))
    if status not in TOLD or event.get("audience", "customer") != "customer":
        return None
    if status == "sent" and event.get("reason") == "provider status report":
        return None  # Twilio confirming a text heard already noted as sent
    what = str(event.get("kind") or "message").replace("_", " ")
    line = f"{_when(event.get('at'))} · {what} {TOLD[status]} by {event.get('channel')}"
    reason = event.get("reason")
    return f"{line}: {reason}" if status != "sent" and reason else line


def reply_line(reply: dict[str, Any]) -> str | None:
    """A choice or a rating in words."""
    who = "a contact" if reply.get("respondent") else "the customer"
    by = f" (by {reply['via']})" if reply.get("via") else ""
    if reply.get("record") == "option_chosen":
        return (
            f"{_when(reply.get('at'))} · {who} chose option {reply.get('option')}: {reply.get('label')}{by}"
        )
    if reply.get("record") == "feedback":
        score = f" {reply['score']}/5" if reply.get("score") is not None else ""
        words = f": “{reply['text']}”" if reply.get("text") else ""
        return f"{_when(reply.get('at'))} · {who} rated the help{score}{words}{by}"
    return None


class HelpdeskNotesAgent:
    stage = STAGE

    def __init__(
        self, *, writer: Writer, topics: TopicNames, dead_letters: DeadLetters, ticket_prefix: str = ""
    ) -> None:
        self.writer = writer
        # The prefix heard's connector gave this help desk's tickets ("zd-4815" for Zendesk's
        # 4815): taken off for the help desk, and a ticket without it is another desk's.
        self.ticket_prefix = ticket_prefix
        self.topics = topics
        self.dead_letters = dead_letters

    def line(self, record: InboundRecord) -> tuple[str, str] | None:
        """(ticket, line) for a record worth a line."""
        try:
            data = json.loads(record.value)
        except ValueError:
            return None  # its producer wrote it; not this agent's to judge
        if not isinstance(data, dict) or not data.get("ticket_id"):
            return None
        ticket = str(data["ticket_id"])
        if not ticket.startswith(self.ticket_prefix) or ticket == self.ticket_prefix:
            return None
        said = reply_line(data) if record.message.topic == self.topics.replies else outcome_line(data)
        return (ticket.removeprefix(self.ticket_prefix), said) if said else None

    async def handle_batch(
        self,
        records: Sequence[InboundRecord],
        before_each: Callable[[InboundRecord], None] = lambda _: None,
    ) -> None:
        notes: dict[str, list[tuple[str, InboundRecord]]] = {}
        for record in records:
            found = self.line(record)
            if found is not None:
                notes.setdefault(found[0], []).append((found[1], record))
        for ticket, lines in notes.items():
            body = "\n".join([HEADING, *(line for line, _ in lines)])
            try:
                await self.writer.post(ticket, body)
            except Exception as exc:  # any failure (a refusal, a bug): the records wait as dead letters
                NOTES.labels("failed").inc()
                log.warning("help desk note on %s not written: %s", ticket, exc)
                for _, record in lines:
                    before_each(record)
                    await self.dead_letters.send(record, f"help desk note not written: {exc}", STAGE)
                continue
            NOTES.labels("written").inc()
