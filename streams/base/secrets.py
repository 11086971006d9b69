"""Secrets that guard a public route: refused at start-up when anyone could guess them.

A bearer token that a compose file or a README shows (`change-me`), or one short enough to
try, lets anyone who reads it publish events (and so send email under the company's name)
or forge a signed link. Start-up stops instead, naming the variable and how to make one.
"""

from __future__ import annotations

import re

from heard.streams.base.settings import ConfigError

MIN_SECRET_CHARS = 32
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
# Placeholders seen in sample configs, compose files and tutorials, compared without case,
# spaces, dashes or underscores.
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "changemenow",
        "changethis",
        "replaceme",
        "secret",
        "mysecret",
        "password",
        "passw0rd",
        "token",
        "mytoken",
        "test",
        "testing",
        "testtoken",
        "default",
        "example",
        "sample",
        "admin",
        "heard",
        "none",
        "null",
        "xxx",
        "todo",
        "fixme",
        "dummy",
        "fake",
        "yoursecret",
        "yourtoken",
        "insertsecrethere",
        "secretkey",
        "supersecret",
    }
)


def _plain(value: str) -> str:
    return re.sub(r"[\s_\-.]", "", value).lower()


def weak_secret(value: str, min_chars: int = MIN_SECRET_CHARS) -> str | None:
    """Why `value` cannot guard a public route, or None when it can."""
    plain = _plain(value)
    if plain in PLACEHOLDERS or plain.startswith(("changeme", "replaceme", "yoursecret")):
        return "holds a published placeholder"
    if len(value) < min_chars:
        return f"holds {len(value)} characters; a secret needs at least {min_chars}"
    if len(set(value)) < 8:
        return f"repeats {len(set(value))} distinct characters; that is not a random secret"
    return None


def require_strong(
    where: str, variable: str, value: str, purpose: str, min_chars: int = MIN_SECRET_CHARS
) -> None:
    """Raise ConfigError naming the setting when `value` is weak; nothing otherwise."""
    reason = weak_secret(value, min_chars)
    if reason is not None:
        raise ConfigError(
            f"{where}: {variable} {reason}, and it {purpose}. Set it to a random "
            f"one ({GENERATE}), or leave it empty to turn that route off"
        )
