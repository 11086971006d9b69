"""The SMS replies agent: the questions heard asked each phone (options, the closure's
rating), the ticket each phone last heard about, and the texts customers send. A text
answering the latest question to its number becomes a choice or feedback event on that
ticket; the preference keyword (PREFS, AJUSTES, RÉGLAGES, EINSTELLUNGEN…) asks for the link to
the reader's preference page, about the ticket they last heard of."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

from heard.streams.contract.state import Question, Texted
from heard.streams.policy.replies import asks_for_preferences, event_for_text
from heard.streams.worker.agent import RecordAgent
from heard.streams.worker.sink import DeadLetters, InboundRecord, Sink

log = logging.getLogger("heard.worker")
STAGE = "sms-replies"
# The table's key for the ticket a phone was last texted about: "texted:" + the number.
TEXTED = "texted:"


class SmsRepliesAgent(RecordAgent):
    stage = STAGE

    def __init__(
        self,
        *,
        questions: MutableMapping[str, Any],
        ticket_events: str,
        sink: Sink,
        dead_letters: DeadLetters,
        preference_pages: bool = False,
    ) -> None:
        # The latest question heard asked each phone, keyed by the number, on the same
        # partitions as the texts that answer it; and, under TEXTED + the number, the ticket
        # heard last texted it about.
        self.questions = questions
        # The keyword is answered only where the pages it links to are served.
        self.preference_pages = preference_pages
        self.ticket_events = ticket_events
        self.sink = sink
        self.dead_letters = dead_letters

    async def handle(self, record: InboundRecord) -> None:
        try:
            data = json.loads(record.value)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("record") == "question":
                question = Question.model_validate(data)
                self.questions[question.phone] = question.model_dump_json()
                return
            if data.get("record") == "texted":
                texted = Texted.model_validate(data)
                self.questions[TEXTED + texted.phone] = texted.model_dump_json()
                return
            if data.get("record") == "forget":
                self.forget(str(data["phone"]), str(data["ticket_id"]))
                return
            phone, sid = str(data["from"]), str(data["message_sid"])
            body, at = str(data.get("body") or ""), datetime.fromisoformat(data["at"])
        except (ValueError, KeyError, TypeError) as exc:  # a record of the wrong shape
            await self.dead_letters.send(record, f"not an inbound text or question: {exc}", STAGE)
            return
        await self._answer(phone, sid, body, at)

    async def _answer(self, phone: str, sid: str, body: str, at: datetime) -> None:
        if self.preference_pages and asks_for_preferences(body):
            await self._send_the_link(phone, sid, at)
            return
        stored = self.questions.get(phone)
        if stored is None:
            log.info("inbound text %s answers no question heard asked; left for the team", sid)
            return
        question = Question.model_validate_json(stored)
        answer, why = event_for_text(question, sid, body, at)
        log.info("inbound text %s: %s", sid, why)
        if at > question.expires_at:
            self.forget(phone, question.ticket_id)
        if answer is not None:
            await self.sink.emit(
                self.ticket_events, answer["ticket_id"].encode(), json.dumps(answer).encode()
            )

    async def _send_the_link(self, phone: str, sid: str, at: datetime) -> None:
        """The preference keyword: the ticket this phone last heard about (a question asked
        or a text sent, whichever came last) gets the request for its reader's link."""
        heard_of: list[tuple[datetime, str, str | None]] = []
        if (question := self.questions.get(phone)) is not None:
            asked = Question.model_validate_json(question)
            heard_of.append((asked.asked_at, asked.ticket_id, asked.contact))
        if (texted := self.questions.get(TEXTED + phone)) is not None:
            told = Texted.model_validate_json(texted)
            heard_of.append((told.at, told.ticket_id, told.contact))
        if not heard_of:
            log.info("inbound text %s asks for the preference link, but no ticket texted it", sid)
            return
        _, ticket_id, contact = max(heard_of, key=lambda seen: seen[0])
        event = {
            "schema": "heard.event/v1",
            "id": f"prefs-sms:{sid}",
            "type": "customer.preferences_requested",
            "ticket_id": ticket_id,
            "occurred_at": at.isoformat(),
            "source": "sms",
            "via": "sms",
            **({"contact": contact} if contact else {}),
        }
        log.info("inbound text %s asks for the preference link of %s", sid, ticket_id)
        await self.sink.emit(self.ticket_events, ticket_id.encode(), json.dumps(event).encode())

    def forget(self, phone: str, ticket_id: str) -> None:
        stored = self.questions.get(phone)
        if stored is not None and Question.model_validate_json(stored).ticket_id == ticket_id:
            del self.questions[phone]
        texted = self.questions.get(TEXTED + phone)
        if texted is not None and Texted.model_validate_json(texted).ticket_id == ticket_id:
            del self.questions[TEXTED + phone]
