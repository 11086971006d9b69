"""Signed one-click answers in emails: choose an option, or rate the help, from a link.

A link carries what it answers (ticket, offer or rating, the value, the reader's locale)
and when it stops working, signed with HMAC-SHA256 under a secret only the workers know.
Nothing else is needed to act on it: no table maps links to tickets, and a link altered by
one character is refused. (The standard library does this in a few lines; a signing library
would add a dependency for no more safety.) An email's List-Unsubscribe link is signed the
same way and carries the reader's address sealed with AES-GCM (`cryptography`), never in
clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heard.streams.contract.state import Notification

REPLY_PATH = "/r/"
UNSUBSCRIBE_PATH = "/u/"
PREFERENCES_PATH = "/p/"
SIGNATURE_BYTES = 16  # 128 bits: forging one is out of reach, and the link stays short
# Mail clients keep an email's List-Unsubscribe for as long as the reader keeps the email.
UNSUBSCRIBE_DAYS = 365
# The address rides sealed in an unsubscribe link (AES-GCM under a key derived from the
# links' secret): the ledger needs it, and proxies and browser histories must not see it.
SEAL_CONTEXT = b"heard unsubscribe address v1"
NONCE_BYTES = 12


class BadLink(ValueError):
    """A link that was altered, signed with another secret, or has expired."""


@dataclass(frozen=True)
class LinkAnswer:
    ticket_id: str
    asks: Literal["option", "feedback"]
    value: int
    offer_id: str | None
    locale: str
    expires_at: datetime
    label: str | None = None
    contact: str | None = None
    # The ticket's subject, for the page the link opens (sealed in the link, as an address is).
    subject: str | None = None


# A page names the request it answers by its subject, cut to this many characters.
SUBJECT_CHARS = 120


@dataclass(frozen=True)
class PreferencePage:
    """A reader's preference page: their ticket, language, the channel this email came by
    and whether heard has a number to text them at."""

    ticket_id: str
    locale: str
    channel: str
    can_text: bool
    expires_at: datetime
    contact: str | None = None
    # The address this email went to, for the page's "stop emails" (sealed in the link).
    address: str | None = None


@dataclass(frozen=True)
class Unsubscribe:
    """A one-click unsubscribe (RFC 8058): stop emails to this address."""

    ticket_id: str
    address: str
    locale: str
    expires_at: datetime
    contact: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ReplyLinks:
    def __init__(self, public_base_url: str, secret: bytes, valid_days: float) -> None:
        self.base = public_base_url.rstrip("/")
        self.secret = secret
        self.valid = timedelta(days=valid_days)

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self.secret, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES])

    def token(self, answer: LinkAnswer) -> str:
        payload = json.dumps(
            {
                "t": answer.ticket_id,
                "a": answer.asks[0],
                "v": answer.value,
                "o": answer.offer_id,
                "l": answer.locale,
                "b": answer.label,
                "c": answer.contact,
                "e": int(answer.expires_at.timestamp()),
                **({"s": self._seal(answer.subject)} if answer.subject else {}),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def url(self, answer: LinkAnswer) -> str:
        return f"{self.base}{REPLY_PATH}{self.token(answer)}"

    def _sealing(self) -> AESGCM:
        return AESGCM(hmac.new(self.secret, SEAL_CONTEXT, hashlib.sha256).digest())

    def _seal(self, text: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return _b64(nonce + self._sealing().encrypt(nonce, text.encode(), SEAL_CONTEXT))

    def _open(self, sealed_text: str) -> str:
        sealed = _unb64(sealed_text)
        try:
            return self._sealing().decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], SEAL_CONTEXT).decode()
        except InvalidTag as exc:  # signed but not sealed by this secret: not heard's
            raise BadLink("this link is not one heard made") from exc

    def unsubscribe_url(self, n: Notification, now: datetime) -> str:
        """The email's List-Unsubscribe address: its ticket, locale and reader, the address
        sealed, signed like every other link."""
        return self.base + self._unsubscribe_path(n.ticket_id, n.locale, n.contact, n.recipient, now)

    def _unsubscribe_path(
        self, ticket_id: str, locale: str, contact: str | None, address: str, now: datetime
    ) -> str:
        payload = json.dumps(
            {
                "k": "u",
                "t": ticket_id,
                "l": locale,
                "c": contact,
                "r": self._seal(address),
                "e": int((now + timedelta(days=UNSUBSCRIBE_DAYS)).timestamp()),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return f"{UNSUBSCRIBE_PATH}{_b64(payload)}.{self._sign(payload)}"

    def preferences_url(self, n: Notification, now: datetime) -> str:
        """The link to the reader's preference page (it works for a year): an email's footer
        carries it, and a text answering the keyword. An email's link seals the address, for
        the page's "stop emails"; a text's link stays short (a text is billed by its length)."""
        by_text = n.channel == "sms"
        payload = json.dumps(
            {
                "k": "p",
                "t": n.ticket_id,
                "l": n.locale,
                "c": n.contact,
                "ch": n.channel,
                "s": by_text or "sms" in n.fallback_recipients,
                "r": None if by_text else self._seal(n.recipient),
                "e": int((now + timedelta(days=UNSUBSCRIBE_DAYS)).timestamp()),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return f"{self.base}{PREFERENCES_PATH}{_b64(payload)}.{self._sign(payload)}"

    def read_preferences(self, token: str, now: datetime) -> PreferencePage:
        data = self._verified(token)
        if data.get("k") != "p":
            raise BadLink("this link is not one heard made")
        page = PreferencePage(
            data["t"],
            data["l"],
            data["ch"],
            bool(data["s"]),
            datetime.fromtimestamp(data["e"], UTC),
            data.get("c"),
            self._open(data["r"]) if data.get("r") else None,
        )
        if now > page.expires_at:
            raise BadLink("this link has expired")
        return page

    def unsubscribe_from_page(self, page: PreferencePage, now: datetime) -> str | None:
        """The page's "stop emails" link: the same as the email's List-Unsubscribe."""
        if page.address is None:
            return None
        return self._unsubscribe_path(page.ticket_id, page.locale, page.contact, page.address, now)

    def read_unsubscribe(self, token: str, now: datetime) -> Unsubscribe:
        data = self._verified(token)
        if data.get("k") != "u":
            raise BadLink("this link is not one heard made")
        found = Unsubscribe(
            data["t"], self._open(data["r"]), data["l"], datetime.fromtimestamp(data["e"], UTC), data.get("c")
        )
        if now > found.expires_at:
            raise BadLink("this link has expired")
        return found

    def _verified(self, token: str) -> dict[str, Any]:
        body, _, signature = token.partition(".")
        try:
            payload = _unb64(body)
            valid = hmac.compare_digest(self._sign(payload), signature)
        except (ValueError, TypeError) as exc:  # not base64 at all: the same refusal as a bad signature
            raise BadLink("this link is not one heard made") from exc
        if not valid:
            raise BadLink("this link is not one heard made")
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise BadLink("this link is not one heard made")
        return data

    def read(self, token: str, now: datetime) -> LinkAnswer:
        data = self._verified(token)
        if data.get("k", "a") != "a":  # an unsubscribe link is no answer
            raise BadLink("this link is not one heard made")
        answer = LinkAnswer(
            ticket_id=data["t"],
            asks="option" if data["a"] == "o" else "feedback",
            value=int(data["v"]),
            offer_id=data["o"],
            locale=data["l"],
            expires_at=datetime.fromtimestamp(data["e"], UTC),
            label=data["b"],
            contact=data.get("c"),
            subject=self._open(data["s"]) if data.get("s") else None,
        )
        if now > answer.expires_at:
            raise BadLink("this link has expired")
        return answer

    def add_to(self, n: Notification, now: datetime) -> dict[str, Any]:
        """The notification's context with a link on each option, or on each score of the
        closure's question: email only (a text is answered by replying); and the link a
        reader asked for to their preference page, by any channel."""
        context = n.context
        if n.kind == "preferences_link" and n.audience == "customer":
            return {**context, "preferences": {"url": self.preferences_url(n, now)}}
        if n.channel != "email" or n.audience != "customer":
            return context
        expires = now + self.valid
        subject = str((context.get("ticket") or {}).get("subject") or "")[:SUBJECT_CHARS] or None

        def link(
            asks: Literal["option", "feedback"], value: int, offer: str | None, label: str | None = None
        ) -> str:
            return self.url(
                LinkAnswer(
                    n.ticket_id,
                    asks,
                    value,
                    offer,
                    n.locale,
                    expires,
                    label and label[:80],
                    n.contact,
                    subject,
                )
            )

        if n.kind == "options" and isinstance(context.get("offer"), dict):
            offer = context["offer"]
            options = [
                {
                    **option,
                    "link": link(
                        "option", int(option["number"]), offer["id"], str(option.get("label") or "")
                    ),
                }
                for option in offer.get("options", [])
            ]
            return {**context, "offer": {**offer, "options": options}}
        if n.kind == "closure_summary" and isinstance(context.get("feedback"), dict):
            links = {str(score): link("feedback", score, None) for score in range(1, 6)}
            return {**context, "feedback": {**context["feedback"], "links": links}}
        return context
