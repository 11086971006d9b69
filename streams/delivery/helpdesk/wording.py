"""The lines of a help-desk note, in the team's language and time zone: what heard sent each
customer (and the promise it made them), and what they chose and how they rated the help.

One phrase book per language (`NOTE_PHRASES`); `writeback.language` in config/connectors.yaml
picks one and the team's calendar (`team_timezone`, config/policy.yaml) gives the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime


@dataclass(frozen=True)
class NotePhrases:
    heading: str
    # How an outcome reads after "{when} · ": English "{what} {status} {by}"; where the
    # participle would have to agree with the message's name, "{status} {by} ({what})".
    outcome: str
    statuses: dict[str, str]
    by: str  # "by {channel}"
    kinds: dict[str, str]
    # The promise a message made: (what it promised, by when) → "; {promise}".
    promises: dict[str, str]
    customer: str
    contact: str
    chose: str  # "{who} chose option {option}: {label}"
    rated: str  # "{who} rated the help{score}{words}"
    via: str  # " (by {via})"
    message: str  # a message of no known kind
    channels: dict[str, str]  # each channel's name in a sentence
    colon: str = ": "  # before a reason or a customer's words (French sets a space before it)


ENGLISH = NotePhrases(
    heading="heard, to and from the customer:",
    outcome="{what} {status} {by}",
    statuses={
        "sent": "sent",
        "suppressed": "not sent",
        "failed": "not sent",
        "bounced": "bounced",
        "complained": "was marked as spam",
        "unsubscribed": "was unsubscribed from",
        "undelivered": "was not delivered",
    },
    by="by {channel}",
    kinds={
        "acknowledgment": "acknowledgment",
        "milestone_update": "milestone update",
        "checkpoint_holding": "holding update",
        "closure_summary": "closure summary",
        "options": "options",
        "option_confirmed": "confirmation of their choice",
        "options_unclear": "question about their answer",
        "feedback_reply": "reply to their rating",
        "preferences_link": "link to their preference page",
    },
    promises={
        "first_reply": "first reply promised by {at}",
        "follow_up": "answer to their follow-up promised by {at}",
        "next_update": "next update promised by {at}",
        "milestone": "next step due by {at}",
        "promise": "promised by {at}",
        "moved": "promise moved to {at}",
    },
    customer="the customer",
    contact="a contact",
    chose="{who} chose option {option}: {label}",
    rated="{who} rated the help{score}{words}",
    via=" (by {via})",
    message="message",
    channels={"email": "email", "sms": "SMS"},
)

NOTE_PHRASES: dict[str, NotePhrases] = {
    "en": ENGLISH,
    "es": NotePhrases(
        heading="heard, al cliente y del cliente:",
        outcome="{status} {by} ({what})",
        statuses={
            "sent": "enviado",
            "suppressed": "no enviado",
            "failed": "no enviado",
            "bounced": "rebotado",
            "complained": "marcado como spam",
            "unsubscribed": "dado de baja",
            "undelivered": "no entregado",
        },
        by="por {channel}",
        kinds={
            "acknowledgment": "acuse de recibo",
            "milestone_update": "actualización de avance",
            "checkpoint_holding": "aviso de espera",
            "closure_summary": "resumen de cierre",
            "options": "opciones",
            "option_confirmed": "confirmación de su elección",
            "options_unclear": "pregunta sobre su respuesta",
            "feedback_reply": "respuesta a su valoración",
            "preferences_link": "enlace a sus preferencias",
        },
        promises={
            "first_reply": "primera respuesta prometida antes del {at}",
            "follow_up": "respuesta a su nuevo mensaje prometida antes del {at}",
            "next_update": "próxima actualización prometida antes del {at}",
            "milestone": "siguiente paso previsto antes del {at}",
            "promise": "prometido antes del {at}",
            "moved": "promesa aplazada al {at}",
        },
        customer="el cliente",
        contact="un contacto",
        chose="{who} eligió la opción {option}: {label}",
        rated="{who} valoró la atención{score}{words}",
        via=" (por {via})",
        message="mensaje",
        channels={"email": "email", "sms": "SMS"},
    ),
    "fr": NotePhrases(
        heading="heard, au client et du client :",
        outcome="{status} {by} ({what})",
        statuses={
            "sent": "envoyé",
            "suppressed": "non envoyé",
            "failed": "non envoyé",
            "bounced": "revenu en erreur",
            "complained": "signalé comme spam",
            "unsubscribed": "désabonné",
            "undelivered": "non distribué",
        },
        by="par {channel}",
        kinds={
            "acknowledgment": "accusé de réception",
            "milestone_update": "point d’avancement",
            "checkpoint_holding": "message d’attente",
            "closure_summary": "résumé de clôture",
            "options": "options",
            "option_confirmed": "confirmation de son choix",
            "options_unclear": "question sur sa réponse",
            "feedback_reply": "réponse à son avis",
            "preferences_link": "lien vers ses préférences",
        },
        promises={
            "first_reply": "première réponse promise avant le {at}",
            "follow_up": "réponse à son nouveau message promise avant le {at}",
            "next_update": "prochain point promis avant le {at}",
            "milestone": "prochaine étape prévue avant le {at}",
            "promise": "promis avant le {at}",
            "moved": "promesse reportée au {at}",
        },
        customer="le client",
        contact="un contact",
        chose="{who} a choisi l’option {option} : {label}",
        rated="{who} a noté l’aide{score}{words}",
        via=" (par {via})",
        message="message",
        channels={"email": "e-mail", "sms": "SMS"},
        colon=" : ",
    ),
    "de": NotePhrases(
        heading="heard, an und vom Kunden:",
        outcome="{what} {status} {by}",
        statuses={
            "sent": "gesendet",
            "suppressed": "nicht gesendet",
            "failed": "nicht gesendet",
            "bounced": "unzustellbar zurückgekommen",
            "complained": "als Spam markiert",
            "unsubscribed": "abbestellt",
            "undelivered": "nicht zugestellt",
        },
        by="per {channel}",
        kinds={
            "acknowledgment": "Eingangsbestätigung",
            "milestone_update": "Zwischenstand",
            "checkpoint_holding": "Wartehinweis",
            "closure_summary": "Abschlusszusammenfassung",
            "options": "Optionen",
            "option_confirmed": "Bestätigung der Wahl",
            "options_unclear": "Rückfrage zur Antwort",
            "feedback_reply": "Antwort auf die Bewertung",
            "preferences_link": "Link zu den Einstellungen",
        },
        promises={
            "first_reply": "erste Antwort zugesagt bis {at}",
            "follow_up": "Antwort auf die neue Nachricht zugesagt bis {at}",
            "next_update": "nächster Stand zugesagt bis {at}",
            "milestone": "nächster Schritt fällig bis {at}",
            "promise": "zugesagt bis {at}",
            "moved": "Zusage verschoben auf {at}",
        },
        customer="der Kunde",
        contact="ein Kontakt",
        chose="{who} hat Option {option} gewählt: {label}",
        rated="{who} hat die Hilfe bewertet{score}{words}",
        via=" (per {via})",
        message="Nachricht",
        channels={"email": "E-Mail", "sms": "SMS"},
    ),
}
# The outcomes a note tells of (deliveries confirmed, retries and provider reports are not news).
TOLD = tuple(ENGLISH.statuses)


class NoteWording:
    """Lines for a note, in one language, with times on the team's clock."""

    def __init__(self, language: str = "en", zone: ZoneInfo | None = None) -> None:
        self.language = language
        self.phrases = NOTE_PHRASES[language]
        self.zone = zone or ZoneInfo("UTC")

    @property
    def heading(self) -> str:
        return self.phrases.heading

    def when(self, at: Any) -> str:
        try:
            moment = datetime.fromisoformat(str(at))
        except ValueError:
            return "?"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return format_datetime(moment, "d MMM HH:mm z", tzinfo=self.zone, locale=self.language)

    def outcome_line(self, event: dict[str, Any]) -> str | None:
        """One delivery outcome in words, or None when it is not news for the team."""
        status = str(event.get("status"))
        if status not in TOLD or event.get("audience", "customer") != "customer":
            return None
        if status == "sent" and event.get("reason") == "provider status report":
            return None  # Twilio confirming a text heard already noted as sent
        phrases = self.phrases
        kind = str(event.get("kind") or "")
        what = phrases.kinds.get(kind) or kind.replace("_", " ") or phrases.message
        channel = str(event.get("channel"))
        by = phrases.by.format(channel=phrases.channels.get(channel, channel))
        said = phrases.outcome.format(what=what, status=phrases.statuses[status], by=by)
        line = f"{self.when(event.get('at'))} · {said}"
        reason = event.get("reason")
        if status != "sent":
            return f"{line}{phrases.colon}{reason}" if reason else line
        promise = self.promise(event.get("promised"))
        return f"{line}; {promise}" if promise else line

    def promise(self, promised: Any) -> str | None:
        """The promise a sent message made, in words: "first reply promised by 20 Nov 14:00"."""
        if not isinstance(promised, dict) or promised.get("what") not in self.phrases.promises:
            return None
        return self.phrases.promises[promised["what"]].format(at=self.when(promised.get("due_at")))

    def reply_line(self, reply: dict[str, Any]) -> str | None:
        """A choice or a rating in words."""
        phrases = self.phrases
        who = phrases.contact if reply.get("respondent") else phrases.customer
        by = (
            phrases.via.format(via=phrases.channels.get(reply["via"], reply["via"]))
            if reply.get("via")
            else ""
        )
        when = self.when(reply.get("at"))
        if reply.get("record") == "option_chosen":
            chose = phrases.chose.format(who=who, option=reply.get("option"), label=reply.get("label"))
            return f"{when} · {chose}{by}"
        if reply.get("record") == "feedback":
            score = f" {reply['score']}/5" if reply.get("score") is not None else ""
            words = f"{phrases.colon}“{reply['text']}”" if reply.get("text") else ""
            return f"{when} · {phrases.rated.format(who=who, score=score, words=words)}{by}"
        return None
