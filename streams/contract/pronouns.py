"""How the team's messages speak of a customer: "goes to him at 8 am, his time"."""

from __future__ import annotations

KNOWN_PRONOUNS = {"she": ("her", "her"), "he": ("him", "his"), "they": ("them", "their")}


def object_pronouns(pronouns: str | None) -> dict[str, str]:
    """`them` and `their` from the customer's own pronouns ("she/her" -> her, her); "they"
    forms for pronouns not listed (the name is never guessed at)."""
    first = (pronouns or "").split("/")[0].strip().lower()
    them, their = KNOWN_PRONOUNS.get(first, KNOWN_PRONOUNS["they"])
    return {"them": them, "their": their}
