"""Delivery: render a notification, send it on its channel, report the outcome.

Independent of Faust so it can be tested with real peers directly. Retries
are short, jittered and in this one layer (stamina); a provider's
Retry-After is honoured up to the configured maximum. A broken template never
sends: the notification fails with the template's file, line and reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

import stamina
from jinja2 import Template, TemplateError, TemplateNotFound

from heard.channels.base import (
    Channel,
    DeliveryError,
    OutboundMessage,
    Receipt,
    RecipientOptedOut,
    RetryableDeliveryError,
)
from heard.streams.base.redaction import redact
from heard.streams.base.settings import RetrySettings
from heard.streams.base.stages import STAGES
from heard.streams.content.rendering import Rendered, Renderer, TemplateProblem
from heard.streams.content.sms_segments import segments
from heard.streams.contract.state import Notification, notification_id
from heard.streams.delivery.links import ReplyLinks

log = logging.getLogger("heard.delivery")

Status = Literal["sent", "failed", "suppressed", "deferred"]


@dataclass
class DeliveryOutcome:
    notification: Notification
    status: Status
    reason: str
    receipt: Receipt | None = None
    template_hashes: dict[str, str] = field(default_factory=dict)
    fallback: Notification | None = None
    opted_out: bool = False
    retryable: bool = False
    attempts: int = 0
    # SMS parts the provider will bill for (0 for email).
    segments: int = 0
    # The published template version it was rendered with (None: the templates folder).
    templates_version: str | None = None

    def event(self) -> dict[str, object]:
        """The record published on `notification-events` (no addresses, no numbers)."""
        n = self.notification
        return {
            "notification_id": n.notification_id,
            "ticket_id": n.ticket_id,
            "kind": n.kind,
            "channel": n.channel,
            "audience": n.audience,
            "status": self.status,
            "reason": redact(self.reason),
            "attempts": self.attempts,
            "delivery_round": n.delivery_round,
            "provider_id": self.receipt.provider_id if self.receipt else None,
            "template_hashes": self.template_hashes,
            "templates_version": self.templates_version,
            "promised": promise_made(n),
            "at": datetime.now(UTC).isoformat(),
        }


# The messages that tell the customer when they will hear next (the others may carry the
# ticket's next milestone in their context without saying it).
PROMISING_KINDS = ("acknowledgment", "milestone_update", "checkpoint_holding")


def promise_made(n: Notification) -> dict[str, str] | None:
    """The promise a message to a customer made, as its context says it (the help desk's note
    tells the team: "first reply promised by 14:00"): {what, due_at}, or None."""
    if n.audience != "customer" or n.kind not in PROMISING_KINDS:
        return None
    context = n.context
    moved, promised = context.get("moved"), context.get("promised")
    next_update, milestone = context.get("next_update"), context.get("next_milestone")
    if isinstance(moved, dict) and moved.get("to"):
        return {"what": "moved", "due_at": str(moved["to"])}
    if isinstance(promised, dict) and promised.get("due_at"):
        return {"what": "promise", "due_at": str(promised["due_at"])}
    if isinstance(next_update, dict) and next_update.get("due_at"):
        return {"what": "next_update", "due_at": str(next_update["due_at"])}
    if isinstance(milestone, dict) and milestone.get("due_at"):
        # A first reply heard promised answers their new message when they had been answered.
        first_reply = "follow_up" if milestone.get("follow_up") else "first_reply"
        return {
            "what": first_reply if milestone.get("first_reply") else "milestone",
            "due_at": str(milestone["due_at"]),
        }
    return None


def _backoff(max_wait: float) -> stamina.instrumentation.RetryHook | object:
    def hook(exc: Exception) -> bool | float:
        if not isinstance(exc, RetryableDeliveryError):
            return False
        if exc.retry_after is not None:
            return min(exc.retry_after, max_wait)
        return True

    return hook


class Delivery:
    def __init__(
        self,
        renderer: Renderer,
        channels: dict[str, Channel],
        retry: RetrySettings,
        fallback_enabled: bool = True,
        links: ReplyLinks | None = None,
    ) -> None:
        self.renderer = renderer
        self.links = links
        self.channels = channels
        self.retry = retry
        self.fallback_enabled = fallback_enabled

    def use(self, renderer: Renderer) -> None:
        """Render with these templates from the next message on (a published version)."""
        self.renderer = renderer

    async def deliver(
        self, n: Notification, ready: Callable[[], Awaitable[None]] | None = None
    ) -> DeliveryOutcome:
        """Render and send `n`; `ready`, if given, is awaited just before the send."""
        channel = self.channels.get(n.channel)
        if channel is None:
            return self._failed(n, f"channel {n.channel!r} is not enabled", 0)
        # One version for the whole message: a switch of published templates takes effect
        # between two messages, never inside one.
        renderer = self.renderer
        with STAGES.timed("delivery.render"):
            try:
                rendered = renderer.render(
                    n.kind,
                    n.channel,
                    n.locale,
                    n.timezone,
                    self.links.add_to(n, datetime.now(UTC)) if self.links else n.context,
                    plain_text_only=n.plain_text_only,
                )
            except TemplateProblem as exc:
                return DeliveryOutcome(n, "failed", f"template: {exc}", templates_version=renderer.version)
            rendered = self._with_footer(n, rendered, renderer)
            message = outbound_message(n, rendered, self._unsubscribe_url(n))
        if ready is not None:
            with STAGES.timed("delivery.wait"):
                await ready()
        attempts = 0
        with STAGES.timed("delivery.send"):
            try:
                async for attempt in stamina.retry_context(
                    on=_backoff(self.retry.max_seconds),  # type: ignore[arg-type]
                    attempts=self.retry.attempts,
                    timeout=self.retry.timeout_seconds,
                    wait_initial=self.retry.initial_seconds,
                    wait_max=self.retry.max_seconds,
                ):
                    with attempt:
                        attempts += 1
                        receipt = await channel.send(message)
            except DeliveryError as exc:
                outcome = self._failed(n, exc.reason, attempts)
                outcome.template_hashes = rendered.template_hashes
                outcome.templates_version = renderer.version
                outcome.opted_out = isinstance(exc, RecipientOptedOut)
                outcome.retryable = exc.retryable
                return outcome
        return DeliveryOutcome(
            n,
            "sent",
            "accepted by the provider",
            receipt=receipt,
            template_hashes=rendered.template_hashes,
            templates_version=renderer.version,
            attempts=attempts,
            segments=segments(rendered.text)[0] if n.channel == "sms" else 0,
        )

    def _with_footer(self, n: Notification, rendered: Rendered, renderer: Renderer) -> Rendered:
        """A customer's email ends with the link to their preference page, in their language
        (`templates/_footer/<language>.txt` and `.html`), when links are on."""
        if self.links is None or n.channel != "email" or n.audience != "customer":
            return rendered
        url = self.links.preferences_url(n, datetime.now(UTC))
        language = n.locale.replace("_", "-").split("-")[0]
        try:
            text = self._footer(language, "txt", renderer).render(url=url).strip()
            html = self._footer(language, "html", renderer).render(url=url).strip()
        except TemplateError:
            return rendered  # no footer in any language: the email goes without it
        with_html = rendered.html
        if with_html is not None:
            with_html = with_html.replace("</main>", f"</main>\n{html}", 1)
        return replace(rendered, text=f"{rendered.text.rstrip()}\n\n{text}\n", html=with_html)

    def _footer(self, language: str, part: str, renderer: Renderer) -> Template:
        env = renderer.env
        try:
            return env.get_template(f"_footer/{language}.{part}")
        except TemplateNotFound:
            return env.get_template(f"_footer/en.{part}")

    def _unsubscribe_url(self, n: Notification) -> str | None:
        """A customer's email gets a one-click unsubscribe when links are on (the team's
        messages are theirs to manage, and a text is stopped with STOP)."""
        if self.links is None or n.channel != "email" or n.audience != "customer":
            return None
        return self.links.unsubscribe_url(n, datetime.now(UTC))

    def what_it_said(self, n: Notification) -> str | None:
        """The text of a message that reached nobody, as its reader would have read it (no
        links: the team passes it on by other means). None when it cannot be rendered."""
        try:
            return self.renderer.render(
                n.kind, n.channel, n.locale, n.timezone, n.context, plain_text_only=True
            ).text.strip()
        except TemplateProblem:
            return None

    def failed(self, n: Notification, reason: str) -> DeliveryOutcome:
        """Not sent for a reason found outside the channel; the other channel may still go."""
        return self._failed(n, reason, 0)

    def suppressed(self, n: Notification, reason: str) -> DeliveryOutcome:
        """Not sent because the recipient withdrew consent; the other channel may still go."""
        outcome = self._failed(n, reason, 0)
        outcome.status = "suppressed"
        return outcome

    def _failed(self, n: Notification, reason: str, attempts: int) -> DeliveryOutcome:
        outcome = DeliveryOutcome(n, "failed", reason, attempts=attempts)
        if self.fallback_enabled and n.fallback:
            channel = n.fallback[0]
            outcome.fallback = n.model_copy(
                update={
                    # The same per-person id the policy gives: a contact's fallback is theirs.
                    "notification_id": notification_id(
                        n.ticket_id,
                        n.kind,
                        n.trigger_event_id,
                        channel,
                        n.audience if n.contact is None else f"contact:{n.contact}",
                    ),
                    "channel": channel,
                    "recipient": n.fallback_recipients[channel],
                    "fallback": n.fallback[1:],
                    "context": {**n.context, "quick_update": {"channel": channel}},
                    "delivery_round": 0,
                    "not_before": None,
                }
            )
        return outcome


def outbound_message(n: Notification, rendered: Rendered, unsubscribe: str | None = None) -> OutboundMessage:
    """The rendered notification as its channel takes it: who reads it, in which language,
    the conversation it belongs to in their inbox, and how to stop it (`unsubscribe`, an
    https link for RFC 8058's one-click List-Unsubscribe)."""
    customer = n.context.get("customer") or {}
    ticket = n.context.get("ticket") or {}
    return OutboundMessage(
        notification_id=n.notification_id,
        ticket_id=n.ticket_id,
        to=n.recipient,
        text=rendered.text,
        subject=rendered.subject,
        html=rendered.html,
        display_name=customer.get("name") if n.audience == "customer" else None,
        # Content-Language (RFC 3282): the language the message was written in, so mail
        # clients and screen readers read it with the right voice.
        headers={
            "X-Heard-Notification-Id": n.notification_id,
            "X-Heard-Kind": n.kind,
            "Content-Language": n.locale.replace("_", "-"),
            # RFC 3834: the acknowledgment answers the customer's own message.
            **({"Auto-Submitted": "auto-replied"} if n.kind == "acknowledgment" else {}),
            **(
                {
                    "List-Unsubscribe": f"<{unsubscribe}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                }
                if unsubscribe
                else {}
            ),
        },
        audience=n.audience,
        thread_subject=ticket.get("subject") or None,
        references=tuple(ticket.get("references") or ()),
    )
