"""Channels as plug-ins: the settings a plug-in declares, the team's messages routed through
every channel that carries them, and rendering by the plug-in's own template files."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from heard.channels.base import Channel
from heard.channels.registry import PLUGINS, template_parts
from heard.streams.base.settings import ConfigError
from heard.streams.content.rendering import Renderer
from heard.streams.contract import stories
from heard.streams.contract.stories import T0, minutes
from heard.streams.delivery.config import ChannelSettings, load_settings
from heard.streams.delivery.wiring import build_channels, team_routes
from tests.peers import REPO
from tests.unit.test_policy import RULES, run, tick

SLACK = {
    "enabled": ["email", "sms", "slack"],
    "team": ["email", "slack"],
    "slack": {
        "webhooks": {"default": "SLACK_TEAM", "lead": "SLACK_LEAD", "lead:parcels": "SLACK_PARCELS_LEAD"}
    },
}
DUE = T0 + timedelta(hours=3)


def test_every_plugin_names_its_template_text_and_whom_it_carries_to() -> None:
    for name, plugin in PLUGINS.items():
        assert plugin.name == name and plugin.parts.text.endswith(".txt")
        assert plugin.audiences and plugin.audiences <= {"customer", "team"}
    assert template_parts("slack").subject is None


# Each plug-in's section as an operator writes it, and the environment its secrets come from.
SECTIONS: dict[str, tuple[dict[str, object], dict[str, str]]] = {
    "email": (
        {
            "host": "smtp.example.com",
            "port": 587,
            "security": "starttls",
            "username_env": "SMTP_USER",
            "password_env": "SMTP_PASSWORD",
        },
        {"SMTP_USER": "heard", "SMTP_PASSWORD": "pw-Xq81"},
    ),
    "sms": (
        {"from_number": "+15005550006"},
        {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "tok-Zr52" * 4},
    ),
    "slack": (
        {"webhooks": {"default": "SLACK_TEAM"}},
        {"SLACK_TEAM": "https://hooks.slack.com/services/T0/B0/url-Kv33"},
    ),
}


def test_every_registered_channel_has_a_section_here() -> None:
    assert sorted(SECTIONS) == sorted(PLUGINS)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_email_sms_and_slack_are_plugins_of_one_shape(tmp_path: Path, name: str) -> None:
    """Validated by the plug-in's own model through config/channels.yaml, built by the
    plug-in from that section and the environment; the engine names none of them."""
    section, environ = SECTIONS[name]
    declared = PLUGINS[name]
    assert issubclass(declared.settings_model, BaseModel)
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump({"enabled": [name], "team": [], name: section}))
    settings = load_settings(tmp_path, environ=environ).channels
    assert isinstance(settings.section_named(name), declared.settings_model)
    built = build_channels(settings, environ)
    assert list(built) == [name] and isinstance(built[name], Channel)
    assert built[name].name == name

    (tmp_path / "channels.yaml").write_text(
        yaml.safe_dump({"enabled": [name], "team": [], name: {**section, "colour": "red"}})
    )
    with pytest.raises(ConfigError, match=rf"{name}\.colour: Extra inputs are not permitted"):
        load_settings(tmp_path, environ=environ)
    missing = next(iter(environ))
    with pytest.raises(ConfigError, match=rf"^config/channels.yaml: {name}\.[a-z_.]+: .*{missing}"):
        build_channels(settings, {key: value for key, value in environ.items() if key != missing})


@pytest.mark.parametrize(
    ("channels", "problem"),
    [
        ({"enabled": ["email", "whatsapp"]}, "unknown channel 'whatsapp'; known: email, slack, sms"),
        ({"enabled": ["email", "slack"]}, "enabled: 'slack' needs its `slack:` section"),
        ({"team": ["slack"]}, "team: 'slack' carries the team's messages but is not enabled"),
        ({"team": ["sms"]}, "team: 'sms' does not carry the team's messages"),
        (
            {"enabled": ["email", "slack"], "slack": {"webhooks": {"default": "X"}, "colour": "red"}},
            "slack.colour: Extra inputs are not permitted",
        ),
        # An empty section would leave the team unwarned: every nudge dropped for want of a route.
        (
            {"enabled": ["email", "slack"], "team": ["slack"], "slack": {"timeout_seconds": 5}},
            "slack.webhooks: Value error, name a webhook for `default`",
        ),
        (
            {"enabled": ["email"], "team": ["sms"]},
            "team: 'sms' carries the team's messages but is not enabled",
        ),
        ({"team": ["email", "email"]}, "team: Value error, a channel is named twice"),
    ],
)
def test_a_wrong_channel_setting_stops_start_up_naming_the_file_and_key(
    tmp_path: Path, channels: dict[str, object], problem: str
) -> None:
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump(channels))
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert str(caught.value).startswith(f"{tmp_path / 'channels.yaml'}: ")
    assert problem in str(caught.value)


def test_without_email_the_team_channels_default_to_none_and_sms_only_still_starts(tmp_path: Path) -> None:
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump({"enabled": ["sms"]}))
    assert load_settings(tmp_path, environ={}).channels.team == []
    assert ChannelSettings().team == ["email"]


def test_a_webhook_variable_that_is_not_set_stops_start_up_naming_the_key() -> None:
    settings = ChannelSettings.model_validate({**SLACK, "enabled": ["email", "slack"]})
    with pytest.raises(ConfigError) as caught:
        build_channels(settings, environ={})
    assert str(caught.value) == (
        "config/channels.yaml: slack.webhooks.default: the environment "
        "variable SLACK_TEAM is not set (it holds the route's webhook URL)"
    )


def test_the_teams_routes_are_emails_recipients_and_the_plugins_named_routes() -> None:
    settings = ChannelSettings.model_validate(
        {
            **SLACK,
            "email": {"internal_recipients": {"default": "team@example.com", "lead": "lead@example.com"}},
        }
    )
    assert team_routes(settings) == {
        "email": {"default": "team@example.com", "lead": "lead@example.com"},
        "slack": {"default": "default", "lead": "lead", "lead:parcels": "lead:parcels"},
    }


RULES_WITH_SLACK = dataclasses.replace(
    RULES,
    team_channels=("email", "slack"),
    team_routes={"slack": {"default": "default", "lead": "lead", "lead:parcels": "lead:parcels"}},
)


def test_a_broken_promise_escalates_by_every_channel_carrying_the_teams_messages() -> None:
    state, _ = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), DUE)],
        rules=RULES_WITH_SLACK,
    )
    assert state is not None
    out = tick(state, DUE, RULES_WITH_SLACK)
    escalations = [(n.channel, n.recipient) for n in out.notifications if n.kind == "checkpoint_escalation"]
    # The agent's team is "parcels" (stories.AGENT): its own lead's route wins on Slack.
    assert escalations == [("email", "lead@example.com"), ("slack", "lead:parcels")]
    ids = {n.notification_id for n in out.notifications if n.kind == "checkpoint_escalation"}
    assert len(ids) == 2  # one per channel: each delivered and receipted on its own


def test_a_nudge_goes_to_the_agents_own_email_and_their_teams_slack_route() -> None:
    rules = dataclasses.replace(RULES_WITH_SLACK, team_routes={"slack": {"default": "default"}})
    state, _ = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), DUE)], rules=rules
    )
    assert state is not None
    out = tick(state, DUE - timedelta(seconds=rules.policy.nudge_lead_seconds), rules)
    nudges = [(n.channel, n.recipient) for n in out.notifications if n.kind == "checkpoint_nudge"]
    assert nudges == [("email", "sam@example.com"), ("slack", "default")]


def test_a_channel_without_a_route_for_the_lead_is_skipped_and_says_so() -> None:
    rules = dataclasses.replace(RULES_WITH_SLACK, team_routes={"slack": {"default": "default"}})
    state, _ = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), DUE)], rules=rules
    )
    assert state is not None
    out = tick(state, DUE, rules)
    assert [(n.channel, n.kind) for n in out.notifications if n.audience == "lead"] == [
        ("email", "checkpoint_escalation")
    ]
    assert any(d.reason == "no slack route configured for the lead" for d in out.decisions)


def test_a_slack_message_is_the_plugins_text_file_alone() -> None:
    state, _ = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), DUE)],
        rules=RULES_WITH_SLACK,
    )
    assert state is not None
    [slack] = [n for n in tick(state, DUE, RULES_WITH_SLACK).notifications if n.channel == "slack"]
    rendered = Renderer(REPO / "templates").render(
        slack.kind, "slack", slack.locale, slack.timezone, slack.context
    )
    assert (rendered.subject, rendered.html) == (None, None)
    assert rendered.text.startswith("*[T1] Promise missed: it was due")
    assert "Confirm the delivery slot" in rendered.text
    assert list(rendered.template_hashes) == ["checkpoint_escalation/en/slack.txt"]


def test_the_writers_studio_shows_the_teams_slack_post_beside_the_email() -> None:
    from heard.streams.studio.server import render_cells

    page = render_cells(REPO / "config", REPO / "templates")
    assert page.problem is None
    [cell] = [c for c in page.cells if c["id"] == "checkpoint_escalation--everyday"]
    [post] = cell["posts"]
    assert post["channel"] == "slack" and post["text"].startswith("*[ZD-2026-0004815162] ")
    assert "checkpoint_escalation/en/slack.txt" in cell["files"]
    customer = [c for c in page.cells if c["id"] == "acknowledgment--everyday"]
    assert customer and customer[0]["posts"] == []


def test_a_team_channel_without_a_template_for_every_team_message_stops_start_up(tmp_path: Path) -> None:
    import shutil

    from heard.streams.worker.app import check_team_templates

    shutil.copytree(REPO / "templates", tmp_path / "templates")
    (tmp_path / "templates" / "checkpoint_nudge" / "en" / "slack.txt").unlink()
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump(SLACK))
    settings = load_settings(tmp_path, environ={})
    check_team_templates(Renderer(REPO / "templates"), settings)  # the shipped ones are whole
    with pytest.raises(ConfigError) as caught:
        check_team_templates(Renderer(tmp_path / "templates"), settings)
    assert str(caught.value) == (
        "config/channels.yaml: team: no template for the team's "
        "messages by that channel: checkpoint_nudge/en/slack.txt"
    )


def test_with_no_route_for_the_lead_anywhere_one_line_says_so() -> None:
    rules = dataclasses.replace(RULES_WITH_SLACK, internal_recipients={}, team_routes={"slack": {}})
    state, _ = run(
        [stories.created("T1", urgent=True), stories.promised("T1", T0 + minutes(5), DUE)], rules=rules
    )
    assert state is not None
    out = tick(state, DUE, rules)
    said = [d.reason for d in out.decisions if d.kind == "checkpoint_escalation"]
    assert said.count("no address configured for the lead") == 1
    assert not any("route configured" in reason for reason in said)
    assert [n for n in out.notifications if n.audience == "lead"] == []


def test_no_channel_config_shows_its_secret_in_a_repr() -> None:
    from heard.channels.email_smtp import EmailConfig, EmailSettings
    from heard.channels.slack_webhook import SlackConfig
    from heard.channels.sms_twilio import SmsConfig, SmsSettings

    shown = " ".join(
        repr(config)
        for config in (
            EmailConfig(
                EmailSettings(host="smtp.example.com", port=587), username="heard", password="pw-Xq81"
            ),
            SmsConfig(
                SmsSettings(from_number="+15005550006"), account_sid="AC" + "0" * 32, auth_token="tok-Zr52"
            ),
            SlackConfig({"default": "https://hooks.slack.com/services/T0/B0/url-Kv33"}),
        )
    )
    assert "EmailConfig(" in shown and "SmsConfig(" in shown
    for secret in ("pw-Xq81", "tok-Zr52", "url-Kv33"):
        assert secret not in shown


def test_retry_after_is_read_once_for_every_channel_in_both_of_its_forms() -> None:
    from datetime import UTC, datetime

    from heard.channels.base import retry_after_seconds

    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert retry_after_seconds("30", now) == 30.0
    assert retry_after_seconds(" 2.5 ", now) == 2.5
    assert retry_after_seconds("Mon, 07 Dec 2026 10:01:30 GMT", now) == 90.0  # an HTTP date
    assert retry_after_seconds("Mon, 07 Dec 2026 09:59:00 GMT", now) == 0.0  # already past
    for unreadable in (None, "", "soon", "nan", "inf", "-inf"):
        assert retry_after_seconds(unreadable, now) in (None, 0.0), unreadable
    assert retry_after_seconds("-5", now) == 0.0
