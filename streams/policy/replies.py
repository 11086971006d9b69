"""Reading what customers answer: a number chosen by text, and the signals in their words.

Both are plain functions of the text and the config, so every tag in a report can be
traced to a phrase in `config/feedback.yaml` (no model decides what someone meant).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from heard.streams.base.settings import FeedbackSettings
from heard.streams.contract.state import Notification, Question

# Numbers people spell out when answering "reply 1, 2 or 3", per language.
NUMBER_WORDS: dict[str, dict[str, int]] = {
    "en": {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "first": 1, "second": 2, "third": 3},
    "es": {
        "uno": 1,
        "una": 1,
        "dos": 2,
        "tres": 3,
        "cuatro": 4,
        "cinco": 5,
        "primera": 1,
        "segunda": 2,
        "tercera": 3,
    },
    "fr": {
        "un": 1,
        "une": 1,
        "deux": 2,
        "trois": 3,
        "quatre": 4,
        "cinq": 5,
        "premier": 1,
        "première": 1,
        "deuxième": 2,
        "troisième": 3,
    },
    "de": {"eins": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "erste": 1, "zweite": 2, "dritte": 3},
}
# Words that may stand before the number: "option 2", "opción 2", "#2", "nr. 2".
_LEAD_WORDS = r"(?:option|opción|opcion|choix|wahl|variante|nummer|number|nr|no|n°|#)"
# How people lead into a choice, per language, as they write it: "quiero la 2", "I'll take
# the second one", "je prends la deuxième", "ich nehme die zweite" (then the number).
CHOOSING: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # (phrases that say "I choose", articles)
    "en": (
        (
            "i'll take",
            "i will take",
            "i'll go with",
            "i'd like",
            "i want",
            "i choose",
            "i pick",
            "i prefer",
            "let's go with",
            "go with",
            "we'll take",
            "we choose",
        ),
        ("the",),
    ),
    "es": (
        ("quiero", "prefiero", "elijo", "escojo", "me quedo con", "nos quedamos con", "queremos", "mejor"),
        ("la", "el"),
    ),
    "fr": (("je prends", "je choisis", "je veux", "je préfère", "on prend", "plutôt"), ("la", "le", "l'")),
    "de": (("ich nehme", "ich möchte", "ich wähle", "wir nehmen", "lieber", "gerne"), ("die", "der", "das")),
}
# The noun that may follow an ordinal: "the second one", "la segunda opción".
_AFTER_ORDINAL = r"(?:\s+(?:one|option|opción|opcion|variante|variant|weg))?"
# An ordinal written with digits: 2nd, 2ª and 2º (a and o once normalised), 2e, 2ème.
_ORDINAL_SUFFIX = r"(?:st|nd|rd|th|a|o|e|er|ère|ème)?"
_KEYCAP = "\ufe0f\u20e3"  # 2️⃣ is "2" followed by these


@dataclass(frozen=True)
class Answer:
    number: int | None
    rest: str | None


def normalise(text: str) -> str:
    """Full-width digits, keycap emoji and typographic apostrophes read as plain ones."""
    text = unicodedata.normalize("NFKC", text).replace(_KEYCAP, "").replace("\u20e3", "")
    return text.replace("\u2019", "'").replace("\u2018", "'").strip()


# Words that may follow a bare choice without making it a sentence ("2 please").
FILLER = {"please", "pls", "thanks", "thank", "thx", "ok", "por", "gracias", "merci", "svp", "danke", "bitte"}


def read_answer(body: str, choices: int, language: str = "en", *, strict: bool = False) -> Answer:
    """The number a text answers with (1..choices), and whatever else it says.

    "2", "Option 2", "#2 please", "two", "5/5 great service", "4 - thanks Sam" all answer;
    "I need 2 more days" does not (the number must come first); "7" when three options were
    offered is no answer, so the text is kept as words."""
    text = normalise(body)
    lang = language.replace("_", "-").split("-")[0].lower()
    words = NUMBER_WORDS.get(lang, {})
    spelled = "|".join(sorted((re.escape(w) for w in {**NUMBER_WORDS["en"], **words}), key=len, reverse=True))
    number = r"(?P<n>\d{1,2}" + _ORDINAL_SUFFIX + "|" + spelled + ")" + _AFTER_ORDINAL
    out_of = r"(?:\s*(?:/|of|out of|von|sur|de)\s*\d{1,2})?"
    stars = r"(?:\s*(?:stars?|estrellas?|étoiles?|sterne?))?"
    # A lead-in ("quiero la 2") only for a choice: a rating starting "the 3 of us…" is words.
    lead_in = _choosing(lang) if strict else ""
    match = re.match(
        rf"^\s*{lead_in}(?:{_LEAD_WORDS}\.?\s*)?{number}{out_of}{stars}"
        r"(?P<rest>(?:[\s.,;:!)\-–—]|$).*)$",
        text,
        flags=re.IGNORECASE | re.DOTALL,
    )
    if not match:
        return Answer(None, text or None)
    raw = re.sub(r"(?<=\d)\D+$", "", match.group("n").lower())  # "2nd" -> "2"
    number_read = int(raw) if raw.isdigit() else {**NUMBER_WORDS["en"], **words}.get(raw)
    raw_rest = match.group("rest")
    rest = raw_rest.strip(" \t\n.,;:!-–—)")
    if re.match(r"^\s*[.,\-–—/]\s*\d", raw_rest):
        return Answer(None, text or None)  # "2.5", "3-4 days", "1/2": a number, not a choice
    first = rest.split()[0].lower() if rest else ""
    if strict and rest and re.match(r"^\s+\w", raw_rest) and first not in FILLER:
        # A choice is answered with the number ("2", "2, the red one"), not a sentence that
        # starts with one ("2 more days please", "3 times I called").
        return Answer(None, text or None)
    # A spelled number answers only on its own: "one more thing" is not option 1.
    if number_read is None or not 1 <= number_read <= choices or (not raw.isdigit() and rest):
        return Answer(None, text or None)
    return Answer(number_read, rest or None)


def _choosing(language: str) -> str:
    """The optional lead-in before a choice: "I'll take", then an article ("the", "la")."""
    phrases, articles = CHOOSING["en"]
    if language != "en" and language in CHOOSING:
        phrases, articles = (phrases + CHOOSING[language][0], articles + CHOOSING[language][1])
    verbs = "|".join(sorted((re.escape(p).replace(r"\ ", r"\s+") for p in phrases), key=len, reverse=True))
    arts = "|".join(sorted((re.escape(a) for a in articles), key=len, reverse=True))
    return rf"(?:(?:{verbs})\s+)?(?:(?:{arts})(?:\s+|(?<=')))?"


def _phrase_pattern(phrase: str) -> str:
    parts = []
    for word in normalise(phrase).casefold().split():
        stem = word.endswith("*")
        parts.append(re.escape(word.rstrip("*")) + (r"\w*" if stem else ""))
    return r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)"


@dataclass(frozen=True)
class _Compiled:
    signal: str
    positive: tuple[re.Pattern[str], ...]
    negative: tuple[re.Pattern[str], ...]


class SignalMatcher:
    """Tags feedback with the seed's loyalty signals ("felt heard", "took ownership", "kept
    me updated") and their negatives, from phrases per language in `config/feedback.yaml`."""

    def __init__(self, settings: FeedbackSettings) -> None:
        self.settings = settings
        self._by_language: dict[str, list[_Compiled]] = {}
        languages = {lang for per in settings.signals.values() for lang in per}
        for language in languages:
            self._by_language[language] = [
                _Compiled(
                    signal,
                    tuple(re.compile(_phrase_pattern(p)) for p in per[language].positive),
                    tuple(re.compile(_phrase_pattern(p)) for p in per[language].negative),
                )
                for signal, per in settings.signals.items()
                if language in per
            ]

    def tag(self, text: str | None, language: str) -> list[str]:
        """Signals found, in config order: `name` or `not_name` (a negative phrase, or a
        positive one shortly after a negator, wins over the positive)."""
        if not text:
            return []
        lang = language.replace("_", "-").split("-")[0].lower()
        folded = normalise(text).casefold()
        negators = [normalise(word).casefold() for word in self.settings.negators.get(lang, [])]
        found: list[str] = []
        for compiled in self._by_language.get(lang, []):
            if any(p.search(folded) for p in compiled.negative):
                found.append(f"not_{compiled.signal}")
                continue
            hits = [m for p in compiled.positive for m in p.finditer(folded)]
            if not hits:
                continue
            negated = all(self._negated(folded, hit.start(), negators) for hit in hits)
            found.append(f"not_{compiled.signal}" if negated else compiled.signal)
        return found

    def _negated(self, text: str, start: int, negators: list[str]) -> bool:
        window = self.settings.negation_window
        # Only the clause the phrase is in: "No complaints, they listened" is praise.
        clause = re.split(r"[.,;:!?]", text[:start])[-1]
        before = re.findall(r"\w+'|\w+", clause)[-window:] if window else []
        return any(word in negators for word in before)


def event_for_text(
    question: Question, message_sid: str, body: str, at: datetime
) -> tuple[dict[str, Any] | None, str]:
    """The canonical event an SMS reply to `question` becomes, or None and why not.

    The event id comes from Twilio's MessageSid, so a redelivered webhook is the same event
    and the ticket applies it once."""
    if at < question.asked_at:
        return None, "the text was sent before heard asked this number its latest question"
    if at > question.expires_at:
        return None, (
            f"the {question.asks} question to this number expired at {question.expires_at.isoformat()}"
        )
    answer = read_answer(body, question.choices, question.locale, strict=question.asks == "option")
    base = {
        "schema": "heard.event/v1",
        "id": f"sms:{message_sid}",
        "ticket_id": question.ticket_id,
        "occurred_at": at.isoformat(),
        "source": "twilio-sms",
        "via": "sms",
        **({"contact": question.contact} if question.contact else {}),
    }
    if question.asks == "option":
        if answer.number is None:
            if not body.strip():
                return None, "an empty text answers nothing"
            # Not one choice ("la segunda o la tercera, no sé", "the cheaper one"): asked
            # again with the numbers, and the owner reads the words.
            return {
                **base,
                "type": "ticket.answer_unclear",
                "offer_id": question.offer_id,
                "text": " ".join(body.split())[:2000],
            }, f"not one choice between 1 and {question.choices}: asked again, the owner told"
        return {
            **base,
            "type": "ticket.option_chosen",
            "offer_id": question.offer_id,
            "option": answer.number,
            **({"text": answer.rest} if answer.rest else {}),
        }, f"option {answer.number} chosen"
    text = answer.rest[:2000] if answer.rest else None
    if answer.number is None and text is None:
        return None, "an empty text answers nothing"
    return {
        **base,
        "type": "ticket.feedback",
        **({"score": answer.number} if answer.number is not None else {}),
        **({"text": text} if text else {}),
    }, "feedback"


# What a reader texts to get the link to their preference page, in each language heard
# writes (Twilio keeps STOP, START and HELP for itself).
PREFERENCE_KEYWORDS = frozenset(
    {
        "prefs",
        "preferences",
        "settings",
        "ajustes",
        "preferencias",
        "réglages",
        "reglages",
        "préférences",
        "paramètres",
        "parametres",
        "einstellungen",
    }
)


def asks_for_preferences(body: str) -> bool:
    """The text is the keyword alone ("PREFS", "prefs!", " Ajustes. "), whatever its case."""
    return body.strip().strip(".!?¡¿ ").casefold() in PREFERENCE_KEYWORDS


def question_asked(n: Notification, sent_at: datetime, window_days: float) -> Question | None:
    """The question an SMS just accepted by the provider asked (the options, the closure's
    rating), if any: the customer's next text to heard's number answers it. Asked only once
    the text is out, so a failed or withdrawn SMS asks nothing, and an email that fell back
    to SMS asks by text."""
    if n.channel != "sms" or n.audience != "customer":
        return None
    offer = n.context.get("offer") or {}
    if n.kind == "options":
        asks, count, offer_id = "option", int(offer.get("count", 0)), offer.get("id")
    elif n.kind == "closure_summary" and n.context.get("feedback"):
        asks, count, offer_id = "feedback", 5, None
    else:
        return None
    return Question(
        phone=n.recipient,
        ticket_id=n.ticket_id,
        asks=asks,
        offer_id=offer_id,
        choices=count,
        asked_at=sent_at,
        locale=n.locale,
        contact=n.contact,
        expires_at=sent_at + timedelta(days=window_days),
    )
