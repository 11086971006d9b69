"""The whole configuration: every file of `config/` validated, channels through their plug-ins.

`heard.streams.base.settings` types each file the engine owns; the sections of
config/channels.yaml belong to the channels, so they are validated here, the lowest layer
that knows the channel registry: each `<name>:` section by its plug-in's own settings
model. Any problem stops start-up with the file and the key path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from heard.channels.base import ChannelPlugin
from heard.channels.email_smtp import PLUGIN as EMAIL
from heard.channels.email_smtp import EmailSettings
from heard.channels.registry import plugin
from heard.channels.sms_twilio import PLUGIN as SMS
from heard.channels.sms_twilio import SmsSettings
from heard.streams.base.settings import (
    ConfigError,
    ConnectorSettings,
    EngineSettings,
    FeedbackSettings,
    Frozen,
    PolicySettings,
    RetrySettings,
    load_file,
)

SectionT = TypeVar("SectionT", bound=BaseModel)
# The keys of channels.yaml that are the engine's; every other key is a channel's section.
ENGINE_KEYS = frozenset({"enabled", "team", "retry", "sections"})


class ChannelSettings(Frozen):
    """config/channels.yaml."""

    enabled: list[str] = Field(default_factory=lambda: ["email", "sms"])
    retry: RetrySettings = RetrySettings()
    # The channels the team's messages go by: agents' nudges, leads' escalations, the
    # notice of a customer no channel reaches. Each must be enabled and carry team messages.
    team: list[str] = Field(default_factory=lambda: ["email"])
    # channel name -> its section, an instance of its plug-in's settings model. A channel
    # without a section starts on its model's defaults, when the model has them all.
    sections: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "team" not in data:
            # Unsaid: by email when email is on (an SMS-only setup keeps starting; its team
            # messages are recorded in the decision log, and the worker says so at start).
            enabled = data.get("enabled", ["email", "sms"])
            data = {**data, "team": ["email"] if "email" in (enabled or []) else []}
        sections = {key: value for key, value in data.items() if key not in ENGINE_KEYS}
        rest = {key: value for key, value in data.items() if key in ENGINE_KEYS}
        return {**rest, "sections": {**rest.get("sections", {}), **sections}}

    @field_validator("enabled", "team")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            plugin(name)  # a ValueError naming the known channels
        if len(set(value)) != len(value):
            raise ValueError("a channel is named twice")
        return value

    @field_validator("sections")
    @classmethod
    def _validated_sections(cls, value: dict[str, Any]) -> dict[str, Any]:
        checked = {}
        for name, section in value.items():
            model = plugin(name).settings_model
            if isinstance(section, model):
                checked[name] = section
                continue
            try:
                checked[name] = model.model_validate(section or {})
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in (name, *first["loc"]))
                raise ValueError(f"{where}: {first['msg']}") from None
        return checked

    @model_validator(mode="after")
    def _team_channels(self) -> ChannelSettings:
        for name in self.team:
            if name not in self.enabled:
                raise ValueError(f"team: {name!r} carries the team's messages but is not enabled")
            if "team" not in plugin(name).audiences:
                raise ValueError(f"team: {name!r} does not carry the team's messages")
        for name in self.enabled:
            if name in self.sections:
                continue
            try:
                plugin(name).settings_model()
            except ValidationError:
                raise ValueError(f"enabled: {name!r} needs its `{name}:` section") from None
        return self

    def section(self, channel: ChannelPlugin[SectionT]) -> SectionT:
        """A channel's validated section, typed by its plug-in; its defaults when unwritten."""
        found = self.sections.get(channel.name)
        return found if isinstance(found, channel.settings_model) else channel.settings_model()

    def section_named(self, name: str) -> BaseModel:
        found: BaseModel = self.section(plugin(name))
        return found

    # The two sections the engine itself reads beyond building the channels: email's holds
    # the answer links' secret, SMS's the public origin Twilio calls back at.
    @property
    def email(self) -> EmailSettings:
        return self.section(EMAIL)

    @property
    def sms(self) -> SmsSettings:
        return self.section(SMS)


class Settings(Frozen):
    engine: EngineSettings = EngineSettings()
    channels: ChannelSettings = ChannelSettings()
    policy: PolicySettings = PolicySettings()
    connectors: ConnectorSettings = ConnectorSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    config_dir: str = "config"


FILES: dict[str, type[Frozen]] = {
    "engine": EngineSettings,
    "channels": ChannelSettings,
    "policy": PolicySettings,
    "connectors": ConnectorSettings,
    "feedback": FeedbackSettings,
}


def load_settings(config_dir: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load every known file of the config folder; missing files take defaults."""
    env = dict(os.environ if environ is None else environ)
    folder = Path(config_dir or env.get("HEARD_CONFIG_DIR", "config"))
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: config folder not found (set HEARD_CONFIG_DIR, or write the shipped one "
            "with `heard init DIR`)"
        )
    parts: dict[str, Any] = {}
    for name, model in FILES.items():
        path = folder / f"{name}.yaml"
        if path.exists():
            parts[name] = load_file(path, model, env)
    return Settings(config_dir=str(folder), **parts)
