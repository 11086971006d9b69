"""The SMS replies agent: the questions heard asked each phone (options, the closure's
rating), and the texts customers send. A text answering the latest question to its number
becomes a choice or feedback event on that ticket."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

from heard.streams.contract.state import Question
from heard.streams.policy.replies import event_for_text
from heard.streams.worker.agent import RecordAgent
from heard.streams.worker.sink import DeadLetters, InboundRecord, Sink

log = logging.getLogger("heard.worker")
STAGE = "sms-replies"


class SmsRepliesAgent(RecordAgent):
    stage = STAGE

    def __init__(
        self,
        *,
        questions: MutableMapping[str, Any],
        ticket_events: str,
        sink: Sink,
        dead_letters: DeadLetters,
    ) -> None:
        # The latest question heard asked each phone, keyed by the number, on the same
        # partitions as the texts that answer it.
        self.questions = questions
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

    def forget(self, phone: str, ticket_id: str) -> None:
        stored = self.questions.get(phone)
        if stored is not None and Question.model_validate_json(stored).ticket_id == ticket_id:
            del self.questions[phone]
