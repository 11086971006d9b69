"""Which of heard's shipped languages a short text an agent wrote reads as, by its function
words: enough to notice an English milestone about to go inside a German message, never
enough to translate or to refuse. None when the words do not say clearly."""

from __future__ import annotations

import re

FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "is",
            "are",
            "to",
            "of",
            "we",
            "you",
            "your",
            "will",
            "be",
            "has",
            "have",
            "it",
            "for",
            "on",
            "with",
            "this",
            "that",
            "our",
            "by",
            "at",
            "in",
            "was",
            "been",
            "from",
            "today",
            "tomorrow",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "de",
            "que",
            "en",
            "y",
            "es",
            "un",
            "una",
            "por",
            "para",
            "con",
            "su",
            "tu",
            "hemos",
            "será",
            "mañana",
            "se",
            "lo",
            "del",
            "al",
            "está",
            "están",
            "hoy",
            "pero",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "de",
            "que",
            "en",
            "des",
            "et",
            "est",
            "une",
            "pour",
            "nous",
            "vous",
            "votre",
            "sur",
            "avec",
            "sera",
            "demain",
            "du",
            "au",
            "pas",
            "dans",
            "aujourd'hui",
            "mais",
            "été",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "ein",
            "eine",
            "wir",
            "sie",
            "ihr",
            "ihre",
            "für",
            "mit",
            "auf",
            "nicht",
            "wird",
            "morgen",
            "dem",
            "den",
            "zu",
            "von",
            "im",
            "heute",
            "aber",
            "wurde",
        ]
    ),
}
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# At least this many function words, and a lead of this many over the next language.
ENOUGH, LEAD = 3, 2


def reads_as(text: str) -> str | None:
    """The shipped language `text` clearly reads as, or None."""
    words = [word.lower() for word in WORD.findall(text)]
    scores = sorted(
        (
            (sum(word in vocabulary for word in words), language)
            for language, vocabulary in FUNCTION_WORDS.items()
        ),
        reverse=True,
    )
    (best, language), (second, _) = scores[0], scores[1]
    return language if best >= ENOUGH and best - second >= LEAD else None


def foreign_to(reader_language: str, text: str) -> str | None:
    """The language `text` reads as when it is not the reader's (both shipped), else None."""
    reader = reader_language.replace("_", "-").split("-")[0].lower()
    if reader not in FUNCTION_WORDS:
        return None
    found = reads_as(text)
    return found if found is not None and found != reader else None
