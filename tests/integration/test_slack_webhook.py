"""The Slack incoming-webhook channel against a local peer holding Slack's documented shape:
the shared channel conformance, Slack's error answers, and markup that must stay text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heard.channels.base import OutboundMessage, PermanentDeliveryError, RetryableDeliveryError
from heard.channels.slack_webhook import (
    SlackConfig,
    SlackSettings,
    SlackWebhookChannel,
    configure,
)
from heard.devstack.kafka import free_port
from heard.streams.content.lint import load_linter
from heard.streams.content.samples import SAMPLE_NOW
from tests.conformance import ChannelConformance
from tests.peers import REPO
from tests.slack_peer import RunningSlackPeer, SlackPeer

pytestmark = pytest.mark.integration

TEAM, LEAD = "/services/T000/B000/team", "/services/T000/B000/lead"


@pytest.fixture(scope="module")
def peer() -> Iterator[SlackPeer]:
    with RunningSlackPeer(SlackPeer()) as running:
        yield running


@pytest.fixture
def slack(peer: SlackPeer) -> SlackWebhookChannel:
    peer.posts.clear()
    peer.faults.clear()
    peer.refused.clear()
    return SlackWebhookChannel(
        SlackConfig(
            {
                "default": peer.url(TEAM),
                "lead": peer.url(LEAD),
                "removed": peer.url("/services/T000/B000/gone"),
            },
            timeout=60,
        )
    )


def post(to: str = "default", text: str = "*[T-1] First reply due 3:00 PM*") -> OutboundMessage:
    return OutboundMessage(notification_id=f"n-{to}", ticket_id="T-1", to=to, text=text)


class TestSlackConformance(ChannelConformance):
    @pytest.fixture
    def channel(self, slack: SlackWebhookChannel) -> SlackWebhookChannel:
        return slack

    @pytest.fixture
    def unreachable(self) -> SlackWebhookChannel:
        return SlackWebhookChannel(SlackConfig({"default": f"http://127.0.0.1:{free_port()}/x"}, timeout=2))

    @pytest.fixture
    def deliverable(self) -> OutboundMessage:
        return post()

    @pytest.fixture
    def refused(self) -> OutboundMessage:
        return post("removed")


async def test_the_post_is_slacks_json_with_the_text_and_reaches_the_routes_hook(
    slack: SlackWebhookChannel, peer: SlackPeer
) -> None:
    await slack.send(post("lead", "*[T-1] Promise missed*\n> Confirm the slot"))
    [sent] = peer.posts
    assert (sent.path, sent.content_type) == (LEAD, "application/json")
    assert sent.payload == {"text": "*[T-1] Promise missed*\n> Confirm the slot"}
    await slack.aclose()


async def test_a_customers_words_never_ping_the_channel_forge_a_link_or_pass_for_heard(
    slack: SlackWebhookChannel, peer: SlackPeer
) -> None:
    linter = load_linter(REPO / "config")
    [(persona, context)] = linter.persona_contexts("options_answered", SAMPLE_NOW)[:1]
    context = {
        **context,
        "text": "ok\n\n*[T-1] Lead approved: refund £500 now*\n> Approved "
        "by the lead <!channel> <https://evil.example|pay here> & co",
        "customer": {**context["customer"], "greeting_name": "> *No reply needed*"},
    }
    rendered = linter.renderer.render("options_answered", "slack", "en", persona.timezone, context)
    await slack.send(post(text=rendered.text))
    [text] = peer.texts(TEAM)
    assert (
        'In her words: "ok *[T-1] Lead approved: refund £500 now* &gt; Approved by the '
        'lead &lt;!channel&gt; &lt;https://evil.example|pay here&gt; &amp; co"'
    ) in text
    # Every line that opens a quote or a heading is the template's own.
    assert [line for line in text.splitlines() if line.startswith((">", "*"))] == [
        "*[ZD-2026-0004815162] &gt; *No reply needed* chose option 2*",
        "> 2. Take the newer model now: arrives in two days",
    ]
    await slack.aclose()


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
async def test_slacks_refusals_are_permanent_with_slacks_reason(
    slack: SlackWebhookChannel, peer: SlackPeer, status: int, reason: str
) -> None:
    peer.faults.append((status, reason, None))
    with pytest.raises(PermanentDeliveryError) as caught:
        await slack.send(post())
    assert caught.value.reason == f"Slack {status}: {reason}"
    await slack.aclose()


async def test_throttling_and_slacks_own_trouble_are_worth_another_try(
    slack: SlackWebhookChannel, peer: SlackPeer
) -> None:
    peer.faults.extend([(429, "rate_limited", "7"), (500, "rollup_error", None)])
    with pytest.raises(RetryableDeliveryError) as throttled:
        await slack.send(post())
    assert (throttled.value.retry_after, throttled.value.code) == (7.0, "429")
    with pytest.raises(RetryableDeliveryError) as trouble:
        await slack.send(post())
    assert trouble.value.reason == "Slack 500: rollup_error"
    receipt = await slack.send(post())  # the third try lands
    assert receipt.channel == "slack" and peer.texts(TEAM)
    await slack.aclose()


async def test_a_route_without_a_webhook_is_refused_before_any_request(
    slack: SlackWebhookChannel, peer: SlackPeer
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await slack.send(post("lead:billing"))
    assert "no webhook for the route 'lead:billing'" in caught.value.reason
    assert peer.posts == [] and peer.refused == []


def test_webhook_urls_come_from_the_environment_and_must_be_https() -> None:
    settings = SlackSettings(webhooks={"default": "SLACK_TEAM", "lead": "SLACK_LEAD"})
    env = {
        "SLACK_TEAM": "https://hooks.slack.com/services/T1/B1/abc",
        "SLACK_LEAD": "http://127.0.0.1:9/services/T1/B1/def",
    }
    assert configure(settings, env).webhook_urls == {"default": env["SLACK_TEAM"], "lead": env["SLACK_LEAD"]}
    with pytest.raises(
        ValueError,
        match=r"slack\.webhooks\.lead: the environment variable "
        r"SLACK_LEAD is not set",
    ):
        configure(settings, {"SLACK_TEAM": env["SLACK_TEAM"]})
    for wrong in (
        "http://hooks.slack.com/services/T1/B1/x",
        "http://127.0.0.1.evil.example/x",
        "https://hooks.slack.com/services/T1/B1/a b",
        "http://127.0.0.1:abc/x",
        "http://127.0.0.1:99999/x",
        "https://[::1/x",
        "https:///x",
    ):
        with pytest.raises(ValueError) as caught:
            configure(settings, {**env, "SLACK_LEAD": wrong})
        # Said without the URL: it is a secret.
        assert str(caught.value) == (
            "slack.webhooks.lead (SLACK_LEAD): not a webhook URL (https://hooks.slack.com/services/...)"
        )
    assert "services" not in repr(configure(settings, env))
