"""Help-desk connectors: one module per vendor behind one small protocol."""

from __future__ import annotations

from streams.connectors.base import Connector
from streams.connectors.freshdesk import Freshdesk
from streams.connectors.front import Front
from streams.connectors.github import GitHub
from streams.connectors.intercom import Intercom
from streams.connectors.jira import Jira
from streams.connectors.zendesk import Zendesk
from streams.settings import SourceSettings


def connector_for(name: str, settings: SourceSettings) -> Connector:
    skew = settings.max_clock_skew_seconds
    makers: dict[str, Connector] = {
        "zendesk": Zendesk(skew), "freshdesk": Freshdesk(), "jira": Jira(),
        "intercom": Intercom(), "front": Front(skew), "github": GitHub(),
    }
    if name not in makers:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(makers))}")
    return makers[name]


SOURCES = ("zendesk", "freshdesk", "jira", "intercom", "front", "github")
