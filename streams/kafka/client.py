"""Connection options for every Kafka client heard makes: the worker (Faust), ingest, the
CLI and the consent follower all connect the same way, from `engine.security`.

Secrets are read from the environment variables the config names, when a client is made.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from heard.streams.base.settings import ConfigError, EngineSettings, KafkaSecurity


def _secret(name: str | None, key: str) -> str:
    value = os.environ.get(name or "")
    if not value:
        raise ConfigError(f"config/engine.yaml: security.{key}: environment variable {name} is not set")
    return value


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=security.ca_file)
        if security.cert_file and security.key_file:
            context.load_cert_chain(security.cert_file, security.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"config/engine.yaml: security: cannot load the TLS files ({exc})") from exc
    context.check_hostname = security.check_hostname
    return context


def client_options(engine: EngineSettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    security = engine.security
    options: dict[str, Any] = {
        "bootstrap_servers": engine.bootstrap_servers,
        "security_protocol": security.protocol,
    }
    if security.uses_tls:
        options["ssl_context"] = ssl_context(security)
    if security.protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=security.sasl_mechanism,
            sasl_plain_username=_secret(security.username_env, "username_env"),
            sasl_plain_password=_secret(security.password_env, "password_env"),
        )
    return options


def faust_credentials(engine: EngineSettings) -> Any:
    """Faust's `broker_credentials` for the same settings (None for PLAINTEXT)."""
    import faust

    security = engine.security
    if security.protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=_secret(security.username_env, "username_env"),
            password=_secret(security.password_env, "password_env"),
            mechanism=security.sasl_mechanism,
            ssl_context=ssl_context(security) if security.uses_tls else None,
        )
    if security.uses_tls:
        return faust.SSLCredentials(ssl_context(security))
    return None
