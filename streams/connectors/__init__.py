"""Help-desk connectors: one module per vendor behind one small protocol."""

from __future__ import annotations

from heard.streams.base.settings import SourceSettings
from heard.streams.connectors.base import Connector
from heard.streams.connectors.freshdesk import Freshdesk
from heard.streams.connectors.front import Front
from heard.streams.connectors.github import GitHub
from heard.streams.connectors.intercom import Intercom
from heard.streams.connectors.jira import Jira
from heard.streams.connectors.zendesk import Zendesk


def connector_for(name: str, settings: SourceSettings) -> Connector:
    skew = settings.max_clock_skew_seconds
    makers: dict[str, Connector] = {
        "zendesk": Zendesk(skew),
        "freshdesk": Freshdesk(),
        "jira": Jira(),
        "intercom": Intercom(),
        "front": Front(skew),
        "github": GitHub(),
    }
    if name not in makers:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(makers))}")
    return makers[name]


SOURCES = ("zendesk", "freshdesk", "jira", "intercom", "front", "github")
