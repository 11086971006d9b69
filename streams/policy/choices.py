"""Repair with choice, and the loop closed: options offered and chosen, feedback given.

"Offer two or three credible paths forward, with clear trade-offs and timelines, then ask
which feels right." An offer goes to the customer at once; their choice (an SMS reply, a
signed link, or the help desk recording a choice made on the phone) is confirmed to them in
one short message, told to the owner and published on `heard-replies` for the help desk.
An offer with a deadline that passes unanswered nudges the owner. Feedback is recorded with
the loyalty signals its words carry, for `heard report feedback`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from heard.streams.contract.records import AnswerUnclear, FeedbackGiven, OptionChosen, OptionsOffered
from heard.streams.contract.state import ChoiceRecord, FeedbackRecord, Offer, Scheduled
from heard.streams.policy.step import Step, queue_now, take_ownership
from heard.streams.policy.team import send_to_team

TEAM_KINDS = ("options_answered", "options_unanswered", "feedback_low")


# An option as every template reads it: the contract's optional fields present, empty when
# the agent gave none (`link` is set by delivery when signed one-click links are configured).
OPTION_DEFAULTS: dict[str, Any] = {"tradeoff": None, "timeline": None, "link": None}


def option_context(option: dict[str, Any]) -> dict[str, Any]:
    return {**OPTION_DEFAULTS, **option}


def offer_context(offer: Offer, intro: str | None = None) -> dict[str, Any]:
    return {
        "id": offer.offer_id,
        "intro": intro,
        "options": [option_context(option) for option in offer.options],
        "count": len(offer.options),
        "choose_by": offer.choose_by.isoformat() if offer.choose_by else None,
    }


def on_options_offered(step: Step, event: OptionsOffered) -> None:
    state = step.state
    if not state.known:
        step.log("skip", "options for a ticket heard has not seen created", kind="options")
        return
    if state.status in ("resolved", "closed"):
        step.log("skip", f"options on a {state.status} ticket are not offered", kind="options")
        return
    if event.offer_id in state.offers:
        step.log("skip", f"offer {event.offer_id} was already made; nothing changes", kind="options")
        return
    if event.agent is not None:
        state.agent = event.agent
        if not state.owner_explicit:
            # The offer itself tells the customer who made it: no second line about it.
            take_ownership(step, event.agent, "offered the options", tell=False)
    # An earlier offer still open is replaced: the customer answers the newest one.
    for earlier in state.offers.values():
        if earlier.chosen is None and not earlier.withdrawn:
            earlier.withdrawn = True
            step.log("record", f"offer {earlier.offer_id} replaced by {event.offer_id}", kind="options")
    step.cancel(("options_unanswered",), "the offer was replaced by a newer one")
    offer = Offer(
        offer_id=event.offer_id,
        offered_at=event.occurred_at,
        choose_by=event.choose_by,
        options=[
            {"number": number, **option.model_dump(exclude_none=True)}
            for number, option in enumerate(event.options, 1)
        ],
    )
    state.offers[event.offer_id] = offer
    context = offer_context(offer, event.intro)
    queue_now(step, "options", extra={"offer": context})
    if event.choose_by is not None and event.choose_by > event.occurred_at:
        step.schedule(
            Scheduled(
                kind="options_unanswered",
                audience="agent",
                due_at=event.choose_by,
                trigger_event_id=f"{event.id}#unanswered",
                trigger_at=event.occurred_at,
                context={"offer": context},
            ),
            f"the owner hears at {event.choose_by.isoformat()} if no option is chosen by then",
        )


def on_option_chosen(step: Step, event: OptionChosen) -> None:
    state = step.state
    offer = state.offers.get(event.offer_id)
    if offer is None:
        step.log("skip", f"no offer {event.offer_id!r} was made on this ticket", kind="option_confirmed")
        return
    if event.option > len(offer.options):
        step.log(
            "skip",
            f"option {event.option} was not offered ({event.offer_id} has {len(offer.options)})",
            kind="option_confirmed",
        )
        return
    if offer.chosen == event.option:
        step.log(
            "skip", f"option {event.option} was already chosen; nothing changes", kind="option_confirmed"
        )
        return
    changed_from = offer.chosen
    offer.chosen, offer.chosen_at = event.option, event.occurred_at
    chosen = offer.options[event.option - 1]
    step.cancel(
        ("options_unanswered",),
        "the customer chose",
        keep=lambda item: item.context.get("offer", {}).get("id") != offer.offer_id,
    )
    owner = state.owner or state.agent
    step.out.replies.append(
        ChoiceRecord(
            ticket_id=state.ticket_id,
            offer_id=offer.offer_id,
            option=event.option,
            label=str(chosen.get("label", "")),
            via=event.via,
            owner=owner.name if owner else None,
            respondent=respondent(event.contact),
            at=event.occurred_at,
        )
    )
    # Whether the customer is sent a confirmation (the team is told either way, and why not).
    confirmation = (
        "replaced" if offer.withdrawn else "closed" if state.status in ("resolved", "closed") else "sent"
    )
    context = {
        "offer": offer_context(offer),
        "chosen": option_context(chosen),
        "changed_from": changed_from,
        "via": event.via,
        "text": event.text,
        "confirmation": confirmation,
    }
    step.log(
        "record",
        f"option {event.option} chosen by {event.via}" + (f" (was {changed_from})" if changed_from else ""),
        kind="option_confirmed",
    )
    _confirm_and_tell(step, event, offer, context)


def _confirm_and_tell(step: Step, event: OptionChosen, offer: Offer, context: dict[str, Any]) -> None:
    """The customer's confirmation (unless the offer was replaced or the ticket is done),
    and the owner's notice (unless the help desk recorded the choice: it knows)."""
    state = step.state
    if offer.withdrawn:
        step.log(
            "skip",
            f"offer {offer.offer_id} was replaced by a newer one: the choice is "
            "recorded and the team told, with no confirmation to the customer",
            kind="option_confirmed",
        )
    elif state.status in ("resolved", "closed"):
        step.log(
            "skip",
            f"the ticket is {state.status}: the choice is recorded and the team "
            "told, with no confirmation to the customer",
            kind="option_confirmed",
        )
    else:
        queue_now(step, "option_confirmed", extra=context)
    if event.via != "help_desk":
        state.scheduled.append(
            Scheduled(
                kind="options_answered",
                audience="agent",
                due_at=step.release_at,
                trigger_event_id=event.id,
                trigger_at=event.occurred_at,
                context=context,
            )
        )


def on_answer_unclear(step: Step, event: AnswerUnclear) -> None:
    """An answer to the options that names none of them, or several: the customer is asked
    once to answer with the number, and the owner sees their words either way."""
    state = step.state
    offer = state.offers.get(event.offer_id)
    if not state.known or offer is None:
        step.log(
            "skip", f"an answer to offer {event.offer_id}, which heard has not made", kind="options_unclear"
        )
        return
    step.log(
        "record",
        f"the answer by {event.via} names none of the {len(offer.options)} options, or more "
        "than one: " + _quoted(event.text),
        kind="options_unclear",
    )
    if offer.withdrawn or state.status in ("resolved", "closed") or offer.asked_again:
        why = (
            "the offer was replaced"
            if offer.withdrawn
            else f"the ticket is {state.status}"
            if state.status in ("resolved", "closed")
            else "they were asked once already"
        )
        step.log("skip", f"not asked again ({why}): the owner has the words", kind="options_unclear")
    else:
        offer.asked_again = True
        # To whoever answered, at once: they are waiting on the other end of the line.
        state.scheduled.append(
            Scheduled(
                kind="options_unclear",
                audience="customer",
                due_at=step.release_at,
                urgent=True,
                trigger_event_id=event.id,
                trigger_at=event.occurred_at,
                contact=event.contact,
                context={"offer": offer_context(offer), "text": event.text, "via": event.via},
            )
        )
    state.scheduled.append(
        Scheduled(
            kind="options_answered",
            audience="agent",
            due_at=step.release_at,
            trigger_event_id=event.id,
            trigger_at=event.occurred_at,
            context={
                "offer": offer_context(offer),
                "chosen": None,
                "changed_from": offer.chosen,
                "via": event.via,
                "text": event.text,
                "confirmation": "unclear",
                "asked_again": not offer.withdrawn and state.status not in ("resolved", "closed"),
            },
        )
    )


def _quoted(text: str) -> str:
    shown = " ".join(text.split())
    return f'"{shown[:80]}{"..." if len(shown) > 80 else ""}"'


def on_feedback(step: Step, event: FeedbackGiven) -> None:
    state = step.state
    if not state.known:
        # Erased (`heard forget`, retention) or never seen: nothing about it is kept.
        step.log("skip", "feedback for a ticket heard does not know (or has erased); not kept")
        return
    person = (
        next((c for c in state.contacts if c.key == event.contact), None) if event.contact else state.customer
    )
    language = person.language if person else step.rules.default_locale
    signals = step.rules.signals.tag(event.text, language)
    owner = state.owner or state.agent
    step.out.replies.append(
        FeedbackRecord(
            ticket_id=state.ticket_id,
            event_id=event.id,
            score=event.score,
            text=event.text,
            signals=signals,
            via=event.via,
            respondent=respondent(event.contact),
            agent=owner.name if owner else None,
            agent_id=owner.id if owner else None,
            team=owner.team if owner else None,
            at=event.occurred_at,
        )
    )
    said = f"score {event.score}" if event.score is not None else "words only"
    step.log("record", f"feedback by {event.via}: {said}; signals: {', '.join(signals) or 'none'}")
    low_because = low_answer(event.score, signals, step.rules.feedback.low_score_at_most)
    if low_because is not None:
        route_low_answer(step, event, signals, low_because)


def low_answer(score: int | None, signals: list[str], at_most: int) -> str | None:
    """Why an answer is low ("score", "words"), or None: a score at most `at_most`, or a
    negative signal in the words whatever the score ("4, but nobody called me back")."""
    if score is not None and score <= at_most:
        return "score"
    if any(signal.startswith("not_") for signal in signals):
        return "words"
    return None


def route_low_answer(step: Step, event: FeedbackGiven, signals: list[str], because: str) -> None:
    """The owner (and the lead) told with the customer's words; the customer answered."""
    state, settings = step.state, step.rules.feedback
    owner = state.owner or state.agent
    answer = {
        "score": event.score,
        "text": event.text,
        "signals": signals,
        "via": event.via,
        "low_because": because,
    }
    audiences = ("agent", "lead") if settings.low_tells_lead else ("agent",)
    for audience in audiences:
        state.scheduled.append(
            Scheduled(
                kind="feedback_low",
                audience=audience,
                due_at=step.release_at,
                trigger_event_id=event.id,
                trigger_at=event.occurred_at,
                context={"answer": answer, "owner": {"name": owner.name} if owner else None},
            )
        )
    if settings.reply_to_low:
        # To whoever answered: the customer, or the contact who did.
        state.scheduled.append(
            Scheduled(
                kind="feedback_reply",
                audience="customer",
                due_at=step.release_at,
                trigger_event_id=event.id,
                trigger_at=event.occurred_at,
                contact=event.contact,
                context={"answer": answer},
            )
        )
    step.log(
        "record",
        f"a low answer (by its {because}): the owner"
        + (" and the lead are" if settings.low_tells_lead else " is")
        + " told with the words"
        + ("; the customer gets a reply" if settings.reply_to_low else ""),
    )


def respondent(contact: str | None) -> str | None:
    """A contact's key, hashed: the report tells people apart without their addresses."""
    return None if contact is None else hashlib.sha256(contact.encode()).hexdigest()[:16]


def release_team(step: Step, item: Scheduled) -> None:
    """The owner hears of an answer, or of an offer left unanswered at its deadline, or of a
    low answer to the closure's question."""
    state = step.state
    if item.kind == "options_unanswered":
        offer = state.offers.get(str(item.context.get("offer", {}).get("id")))
        if offer is None or offer.chosen is not None or offer.withdrawn:
            step.log("cancel", "the customer has chosen, or the offer was replaced", kind=item.kind)
            return
        if state.status in ("resolved", "closed"):
            step.log("cancel", f"the ticket is {state.status}", kind=item.kind)
            return
    owner = state.owner or state.agent
    send_to_team(
        step,
        item,
        owner.team if owner else None,
        owner.email if owner else None,
        owner.name if owner else "team",
    )
