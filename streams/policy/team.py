"""The team's messages (a nudge to the agent, an escalation to the lead): by every channel
that carries them, to the agent's own address or their team's route."""

from __future__ import annotations

from typing import Any

from heard.streams.contract.state import Notification, Scheduled, notification_id
from heard.streams.policy.contexts import customer_for_the_team, with_every_promise_flag
from heard.streams.policy.step import Rules, Step, record_sent


def send_to_team(
    step: Step,
    item: Scheduled,
    team_name: str | None,
    agent_email: str | None,
    agent_name: str,
    holding: dict[str, Any] | None = None,
) -> None:
    """The team's message, by every channel that carries the team's messages (an email to
    the agent's own address, a post to the team's Slack channel)."""
    state = step.state
    routes = [
        (channel, team_recipient(step.rules, channel, item.audience, team_name or "default", agent_email))
        for channel in step.rules.team_channels
    ]
    if not any(recipient for _, recipient in routes):
        step.log("suppress", f"no address configured for the {item.audience}", kind=item.kind)
        return
    context = {
        **with_every_promise_flag(item.context),
        "ticket": {
            "id": state.ticket_id,
            "subject": state.subject or "",
            "status": state.status,
            "references": list(state.customer_message_ids),
        },
        "customer": customer_for_the_team(step),
        "agent": {"name": agent_name},
        "holding": holding,
        "sent_at": step.now.isoformat(),
    }
    for channel, recipient in routes:
        if not recipient:
            step.log(
                "suppress",
                f"no {channel} route configured for the {item.audience}",
                kind=item.kind,
                channel=channel,
            )
            continue
        record_sent(
            step,
            Notification(
                notification_id=notification_id(
                    state.ticket_id, item.kind, item.trigger_event_id, channel, audience=item.audience
                ),
                ticket_id=state.ticket_id,
                kind=item.kind,
                audience=item.audience,
                channel=channel,
                recipient=recipient,
                locale=step.rules.default_locale,
                timezone=step.rules.policy.team_timezone,
                plain_text_only=False,
                trigger_event_id=item.trigger_event_id,
                decided_at=step.now,
                context=context,
            ),
        )


def team_recipient(
    rules: Rules, channel: str, audience: str, team: str, agent_email: str | None
) -> str | None:
    """Who on `channel` hears a message for the agent (their own email address, else their
    team's route, else the default one) or for the lead (their team's lead, else the lead)."""
    routes = rules.internal_recipients if channel == "email" else rules.team_routes.get(channel, {})
    if audience == "agent":
        own = agent_email if channel == "email" else None
        return own or routes.get(team) or routes.get("default")
    return routes.get(f"lead:{team}") or routes.get("lead")
