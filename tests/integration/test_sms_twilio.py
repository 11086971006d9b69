"""The real twilio SDK against Twilio's own OpenAPI contract, served by Prism."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from heard.channels.base import (
    DeliveryError,
    OutboundMessage,
    PermanentDeliveryError,
    RecipientOptedOut,
    RetryableDeliveryError,
)
from heard.channels.sms_twilio import BaseUrlHttpClient, SmsConfig, SmsSettings, TwilioSmsChannel
from heard.devstack.kafka import free_port
from tests.conformance import ChannelConformance
from tests.peers import Prism

pytestmark = pytest.mark.integration
SID = "AC" + "a" * 32


class PreferHttpClient(BaseUrlHttpClient):
    """Asks Prism for one scripted answer through its `Prefer` header."""

    prefer: str | None = None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,  # type: ignore[override]
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ):
        headers = dict(headers or {})
        if self.prefer:
            headers["Prefer"] = self.prefer
        return await super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


def config(prism: Prism, **overrides: object) -> SmsConfig:
    account_sid = str(overrides.pop("account_sid", SID))
    settings = SmsSettings.model_validate(
        {
            "from_number": "+15005550006",
            "base_url": prism.base_url,
            "public_base_url": "https://hooks.example.com",
            # Prism on a busy machine: the outcome is tested, not a speed.
            "timeout_seconds": 60,
            **overrides,
        }
    )
    return SmsConfig(settings, account_sid, auth_token="token")


@pytest.fixture
async def sms(prism: Prism) -> AsyncIterator[tuple[TwilioSmsChannel, PreferHttpClient]]:
    http = PreferHttpClient(prism.base_url, 60)
    channel = TwilioSmsChannel(config(prism), http_client=http)
    yield channel, http
    await channel.aclose()


def message(to: str = "+48512345678") -> OutboundMessage:
    return OutboundMessage(
        notification_id="n-1", ticket_id="T-1", to=to, text="Hi Łukasz, we have your message about T-1002."
    )


class TestSmsConformance(ChannelConformance):
    @pytest.fixture
    def channel(self, sms: tuple[TwilioSmsChannel, PreferHttpClient]) -> TwilioSmsChannel:
        return sms[0]

    @pytest.fixture
    async def unreachable(self) -> AsyncIterator[TwilioSmsChannel]:
        channel = TwilioSmsChannel(
            SmsConfig(
                SmsSettings(
                    from_number="+15005550006", base_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2
                ),
                account_sid=SID,
                auth_token="t",
            )
        )
        yield channel
        await channel.aclose()

    @pytest.fixture
    def deliverable(self) -> OutboundMessage:
        return message()

    @pytest.fixture
    def refused(self, sms: tuple[TwilioSmsChannel, PreferHttpClient]) -> OutboundMessage:
        sms[1].prefer = "code=400, example=invalidTo"
        return message(to="+15005550001")


async def test_valid_send_is_accepted_by_the_contract(sms: tuple[TwilioSmsChannel, PreferHttpClient]) -> None:
    channel, _ = sms
    receipt = await channel.send(message())
    assert receipt.provider_id.startswith("SM")
    assert receipt.channel == "sms" and receipt.notification_id == "n-1"


@pytest.mark.parametrize(
    ("prefer", "error", "code", "retry_after"),
    [
        ("code=400, example=optedOut", RecipientOptedOut, "21610", None),
        ("code=400, example=invalidTo", PermanentDeliveryError, "21211", None),
        ("code=429, example=tooMany", RetryableDeliveryError, "20429", 1.0),
    ],
)
async def test_twilio_errors_map_to_the_error_tree(
    sms: tuple[TwilioSmsChannel, PreferHttpClient],
    prefer: str,
    error: type[DeliveryError],
    code: str,
    retry_after: float | None,
) -> None:
    channel, http = sms
    http.prefer = prefer
    with pytest.raises(error) as caught:
        await channel.send(message())
    assert caught.value.code == code
    assert caught.value.retryable is (error is RetryableDeliveryError)
    # Retry-After from a 429 is honoured; permanent errors carry none.
    assert caught.value.retry_after == retry_after


async def test_server_error_is_retryable(sms: tuple[TwilioSmsChannel, PreferHttpClient]) -> None:
    channel, http = sms
    http.prefer = "code=503"
    with pytest.raises(RetryableDeliveryError):
        await channel.send(message())


async def test_contract_rejects_a_malformed_account_sid(prism: Prism) -> None:
    channel = TwilioSmsChannel(config(prism, account_sid="not-a-sid"))
    try:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(message())
        assert "422" in caught.value.reason
    finally:
        await channel.aclose()
