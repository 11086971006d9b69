"""Trying the wiring before a help desk sends anything: `heard ingest sample` prints a
realistic body, `heard ingest post` signs one as the vendor does and posts it."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from heard.streams.base.settings import ConfigError, SourceSettings
from heard.streams.connectors.signing import signed_headers
from heard.streams.delivery.config import Settings

SAMPLES = Path(__file__).resolve().parent.parent / "connectors" / "samples"


def sample_body(source: str) -> str:
    return (SAMPLES / f"{source}.json").read_text(encoding="utf-8")


def post_signed(settings: Settings, source: str, file: str | None, url: str | None) -> int:
    """Post `file` (or the sample) to the ingest, signed with the secrets the source's
    configuration names; prints the answer. 0 when the ingest took it."""
    body = Path(file).read_bytes() if file else sample_body(source).encode()
    known = {str(name): config for name, config in settings.connectors.sources.items()}
    config = known.get(source) or SourceSettings()
    try:
        headers = signed_headers(source, config, dict(os.environ), body, datetime.now(UTC))
    except KeyError as missing:
        raise ConfigError(
            f"config/connectors.yaml: sources.{source}: environment variable {missing.args[0]} is not set "
            "(the secret the help desk signs with)"
        ) from None
    target = url or f"http://{settings.connectors.host}:{settings.connectors.port}/webhooks/{source}"
    if not target.startswith(("http://", "https://")):
        raise ConfigError(f"--url {target}: an http:// or https:// address of the ingest")
    # The scheme is checked above: only http(s), to the operator's own ingest.
    request = urllib.request.Request(target, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            status, text = answer.status, answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as refused:
        status, text = refused.code, refused.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"heard: no ingest answering at {target} ({reason}); is `heard ingest` running?")
        return 3
    print(f"{status} {text.strip()}")
    return 0 if 200 <= status < 300 else 1
