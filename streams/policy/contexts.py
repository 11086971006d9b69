"""What the policy hands the templates beside the event's own fields: a promise as templates
read it, the customer as the team needs them, and what became of the customer's holding
update (for the lead's escalation)."""

from __future__ import annotations

from typing import Any

from heard.streams.contract.pronouns import object_pronouns
from heard.streams.contract.state import Promise
from heard.streams.policy.routing import NoRoute, customer_route, customer_zone, quiet_until
from heard.streams.policy.step import Step

# heard's own promises, kept with the same ladder as an agent's: the first reply the
# acknowledgment names, and the next update a holding update names.
WATCHES = ("first_reply", "next_update")


def with_every_promise_flag(context: dict[str, Any]) -> dict[str, Any]:
    """Templates ask `promise.first_reply` and `promise.next_update` of every promise: a
    step scheduled before a flag existed (a rolling upgrade) gets it as False."""
    promise = context.get("promise")
    if not isinstance(promise, dict):
        return context
    return {**context, "promise": {**dict.fromkeys(WATCHES, False), "follow_up": False, **promise}}


def promise_context(promise: Promise) -> dict[str, Any]:
    return {
        # `what` is the agent's task line, for the team; the customer reads `customer_text`.
        "id": promise.promise_id,
        "what": promise.what,
        "customer_text": promise.customer_text,
        "due_at": promise.due_at.isoformat(),
        "agent_name": promise.agent.name,
        "outside_team_hours": promise.outside_team_hours,
        "first_reply": False,
    }


def customer_for_the_team(step: Step) -> dict[str, Any]:
    """What the agent and the lead need to write to this person well: name, pronouns,
    language, their own zone, and the needs their messages must meet."""
    customer = step.state.customer
    if customer is None:
        return {
            "greeting_name": "",
            "pronouns": None,
            "timezone": None,
            "language": None,
            "plain_text_only": False,
            "quiet_hours": None,
            **object_pronouns(None),
        }
    quiet = customer.quiet_hours
    return {
        "greeting_name": customer.greeting_name,
        "pronouns": customer.pronouns,
        **object_pronouns(customer.pronouns),
        "timezone": customer_zone(customer, step.rules.policy).key,
        "language": customer.language,
        "plain_text_only": customer.accessibility.plain_text_only,
        "quiet_hours": {"start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M")}
        if quiet
        else None,
    }


def holding_fate(step: Step) -> dict[str, Any]:
    """What happens to the customer's holding update released in this same step — the
    escalation tells the lead that, not what was meant to happen."""
    customer = step.state.customer
    if customer is None:
        return {"status": "not_sent", "reason": "no customer details are known", "until": None}
    route = customer_route(customer, step.rules.enabled_channels)
    if isinstance(route, NoRoute):
        return {"status": "not_sent", "reason": route.reason, "until": None}
    later = quiet_until(step.now, customer, step.rules.policy)
    if later is not None:
        return {"status": "deferred", "reason": "the customer's quiet hours", "until": later.isoformat()}
    # The last holding update in a row names no next time: the lead should know heard
    # goes quiet after it until someone writes.
    last = step.state.holding_updates_in_a_row + 1 >= step.rules.policy.holding_updates_in_a_row
    return {"status": "sent", "reason": None, "until": None, "channel": route.channel, "last": last}
