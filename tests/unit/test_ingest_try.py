"""Trying the wiring: each help desk's sample body, signed by `heard ingest post`'s signer,
is authentic to heard's own connector and maps to a new ticket; a wrong secret is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from heard.streams.cli import main
from heard.streams.cli.ingest_try import sample_body
from heard.streams.connectors import connector_for
from heard.streams.connectors.base import Request
from heard.streams.connectors.signing import signed_headers
from tests.connector_signing import SECRETS
from tests.unit.test_connectors import INGEST, SETTINGS

SOURCES = ["zendesk", "freshdesk", "jira", "intercom", "front", "github"]


@pytest.mark.parametrize("source", SOURCES)
def test_a_signed_sample_is_authentic_and_becomes_a_new_ticket(source: str) -> None:
    body = sample_body(source).encode()
    settings = SETTINGS.connectors.sources[source]
    connector = connector_for(source, settings)
    headers = signed_headers(source, settings, SECRETS, body, datetime.now(UTC))

    def request(signed: dict[str, str]) -> Request:
        return Request(
            signed,
            body,
            SECRETS.get(settings.secret_env or ""),
            SECRETS.get(settings.username_env or ""),
            SECRETS.get(settings.password_env or ""),
        )

    assert connector.authentic(request(headers))
    wrong = {key: value + "-wrong" for key, value in SECRETS.items()}
    assert not connector.authentic(request(signed_headers(source, settings, wrong, body, datetime.now(UTC))))
    events = INGEST.map(source, connector, settings, request(headers), json.loads(body), "d-1")
    assert [event.type for event in events][:1] == ["ticket.created"]


def test_sample_prints_the_body_and_post_names_a_missing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.peers import REPO

    assert main(["ingest", "sample", "--source", "zendesk"]) == 0
    assert json.loads(capsys.readouterr().out)["ticket"]["requester"]["name"] == "Amara Okafor"
    monkeypatch.setenv("HEARD_CONFIG_DIR", str(REPO / "config"))
    monkeypatch.delenv("ZENDESK_WEBHOOK_SECRET", raising=False)
    assert main(["ingest", "post", "--source", "zendesk"]) == 2
    assert capsys.readouterr().err.strip() == (
        "heard: config/connectors.yaml: sources.zendesk: environment variable "
        "ZENDESK_WEBHOOK_SECRET is not set (the secret the help desk signs with)"
    )
