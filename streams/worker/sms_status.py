"""The SMS status agent: Twilio's status reports applied forward-only per message (a late
"sent" never overwrites "delivered"), an opt-out refusal recorded, each report published."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from typing import Any

from heard.channels.sms_twilio import OPTED_OUT
from heard.channels.twilio_webhooks import STATUS_RANK
from heard.streams.worker.agent import RecordAgent
from heard.streams.worker.metrics import DELIVERIES
from heard.streams.worker.opt_outs import OptOuts
from heard.streams.worker.sink import DeadLetters, InboundRecord, Sink

log = logging.getLogger("heard.worker")
STAGE = "sms-status"


class SmsStatusAgent(RecordAgent):
    stage = STAGE

    def __init__(
        self,
        *,
        provider_status: MutableMapping[str, Any],
        opt_outs: OptOuts,
        notification_events: str,
        sink: Sink,
        dead_letters: DeadLetters,
    ) -> None:
        self.provider_status = provider_status
        self.opt_outs = opt_outs
        self.notification_events = notification_events
        self.sink = sink
        self.dead_letters = dead_letters

    async def handle(self, record: InboundRecord) -> None:
        try:
            report = json.loads(record.value)
            status = report["status"]
            rank = STATUS_RANK[status]
            sid = str(report["message_sid"])
        except (ValueError, KeyError, TypeError) as exc:
            await self.dead_letters.send(record, f"not a status report: {exc}", STAGE)
            return
        known = self.provider_status.get(sid)
        if known is not None and rank <= STATUS_RANK.get(known, -1):
            log.debug("status %s for %s ignored: already %s", status, sid, known)
            return
        self.provider_status[sid] = status
        if str(report.get("error_code")) == str(OPTED_OUT) and report.get("to"):
            await self.opt_outs.record("sms", str(report["to"]), f"twilio-status:{sid}")
        ticket = str(report.get("ticket_id") or "")
        DELIVERIES.labels("sms", status).inc()
        await self.sink.emit(
            self.notification_events,
            ticket.encode(),
            json.dumps(
                {
                    "notification_id": report.get("notification_id"),
                    "ticket_id": ticket,
                    "channel": "sms",
                    "status": status,
                    "provider_id": sid,
                    "error_code": report.get("error_code"),
                    "reason": "provider status report",
                    "at": report.get("at"),
                }
            ).encode(),
        )
