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
from typing import Protocol

from prometheus_client import Counter

from heard.streams.base.settings import TopicNames
from heard.streams.delivery.helpdesk.wording import NoteWording
from heard.streams.worker.sink import DeadLetters, InboundRecord

log = logging.getLogger("heard.worker")
STAGE = "helpdesk-notes"
NOTES = Counter("heard_helpdesk_notes_total", "Internal notes written back to the help desk", ["result"])

# The lines in English on UTC, as a note reads without `writeback.language`.
ENGLISH_UTC = NoteWording()
outcome_line = ENGLISH_UTC.outcome_line
reply_line = ENGLISH_UTC.reply_line


class Writer(Protocol):
    async def post(self, ticket_id: str, body: str) -> None: ...


class HelpdeskNotesAgent:
    stage = STAGE

    def __init__(
        self,
        *,
        writer: Writer,
        topics: TopicNames,
        dead_letters: DeadLetters,
        ticket_prefix: str = "",
        wording: NoteWording = ENGLISH_UTC,
    ) -> None:
        self.writer = writer
        self.wording = wording
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
        wording = self.wording
        replied = record.message.topic == self.topics.replies
        said = wording.reply_line(data) if replied else wording.outcome_line(data)
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
            body = "\n".join([self.wording.heading, *(line for line, _ in lines)])
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
