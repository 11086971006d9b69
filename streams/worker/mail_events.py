"""The mail-events agent: what a provider said about an email heard sent, acted on.

Every event is shown in the ticket's delivery history (`heard explain`). When the address
is refused (a hard bounce, a complaint, an unsubscribe, or soft bounces past the limit), the
email the event is about goes by the customer's other consented channel, and the team, the
lead and the ticket's owner are told in plain words — once, here; the customer's later
messages go by the other channel without a word, as after a STOP.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from heard.streams.base.settings import TopicNames
from heard.streams.contract.state import Notification
from heard.streams.delivery.sender import Delivery
from heard.streams.worker.agent import RecordAgent
from heard.streams.worker.sink import Clock, DeadLetters, InboundRecord, Sink
from heard.streams.worker.team_notice import TeamInbox, unreachable_notices

log = logging.getLogger("heard.worker")
STAGE = "mail-events"

# A bounce read after this long (soft bounces turn hard after days of the provider's
# retries) no longer sends the old message by the other channel: it would arrive out of
# date. The team is told either way.
RESEND_WITHIN = timedelta(hours=24)

STATUS = {
    "hard_bounce": "bounced",
    "soft_bounce": "soft-bounced",
    "complaint": "complained",
    "unsubscribe": "unsubscribed",
}


def mail_reason(kind: str, detail: str, at: datetime, strikes: int = 0) -> str:
    """The event in words, for the team and `heard explain`."""
    when = at.strftime("%-d %b %Y, %H:%M UTC")
    said = f": {detail}" if detail else ""
    if kind == "hard_bounce":
        return f"their email address bounced on {when}; it cannot receive mail{said}"
    if kind == "soft_bounce":
        return f"our email could not be delivered for now on {when} ({strikes} such email(s) in a row){said}"
    if kind == "complaint":
        return f"they marked our email as spam on {when}"
    return f"they unsubscribed from our emails on {when}"


class MailEventsAgent(RecordAgent):
    stage = STAGE

    def __init__(
        self,
        *,
        receipts: Mapping[str, Any],
        delivery: Delivery,
        topics: TopicNames,
        team: TeamInbox,
        sink: Sink,
        dead_letters: DeadLetters,
        clock: Clock,
    ) -> None:
        self.receipts = receipts
        self.delivery = delivery
        self.topics = topics
        self.team = team
        self.sink = sink
        self.dead_letters = dead_letters
        self.clock = clock

    async def handle(self, record: InboundRecord) -> None:
        try:
            event = json.loads(record.value)
            kind, ticket, nid = str(event["kind"]), str(event["ticket_id"]), str(event["notification_id"])
            at = datetime.fromisoformat(event["at"])
            refused = bool(event["refused"])
        except (ValueError, KeyError, TypeError) as exc:
            await self.dead_letters.send(record, f"not a mail event: {exc}", STAGE)
            return
        reason = mail_reason(kind, str(event.get("detail") or ""), at, int(event.get("strikes") or 0))
        key = ticket.encode()
        await self.sink.emit(
            self.topics.notification_events,
            key,
            json.dumps(
                {
                    "notification_id": nid,
                    "ticket_id": ticket,
                    "channel": "email",
                    "status": STATUS.get(kind, kind),
                    "provider_id": event.get("event_id"),
                    "reason": reason,
                    "at": at.isoformat(),
                }
            ).encode(),
        )
        if refused:
            await self._reach_otherwise(nid, reason, key)

    async def _reach_otherwise(self, nid: str, reason: str, key: bytes) -> None:
        sent = self._sent_notification(nid)
        if sent is None:
            log.info("mail event for %s: no copy of the email is kept; nobody to tell", nid)
            return
        fallback = None
        if self.clock() - sent.decided_at <= RESEND_WITHIN:
            fallback = self.delivery.suppressed(sent, reason).fallback
        if fallback is not None:
            await self.sink.emit(self.topics.outbound, key, fallback.model_dump_json().encode())
        missed = self.delivery.what_it_said(sent)
        instead = fallback.channel if fallback is not None else None
        for notice in unreachable_notices(sent, reason, self.team, self.clock(), missed, instead):
            await self.sink.emit(self.topics.outbound, key, notice.model_dump_json().encode())

    def _sent_notification(self, nid: str) -> Notification | None:
        receipt = self.receipts.get(nid)
        if receipt is None:
            return None
        try:
            kept = json.loads(receipt).get("notification")
            return Notification.model_validate(kept) if kept is not None else None
        except ValueError:
            return None
