"""An agent's words go to the customer as written; when they read as another of heard's
languages than the reader's (an English milestone inside a German message), the decision log
says so, for `heard explain` and the agent: heard never translates or holds them."""

from __future__ import annotations

from heard.streams.contract.language_guess import foreign_to
from heard.streams.policy.step import Step

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German"}


def note_foreign_words(step: Step, what: str, *texts: str | None) -> None:
    """Log once per event when any of `texts` (what the agent wrote for the customer) reads
    as a language other than the customer's."""
    customer = step.state.customer
    if customer is None:
        return
    reader = customer.language.replace("_", "-").split("-")[0].lower()
    for text in texts:
        found = foreign_to(customer.language, text) if text else None
        if found is not None:
            step.log(
                "record",
                f"the agent's {what} reads as {LANGUAGE_NAMES[found]}, and the customer reads "
                f"{LANGUAGE_NAMES.get(reader, reader)}: it goes as written; next time, write it in "
                "their language",
            )
            return
