"""Every HTML email heard can send, read as a screen reader and an accessibility checker would:
each kind in each of its wordings, in every shipped language, rendered from the shipped
templates and loaded into headless Chromium, where axe-core (pinned in devstack/axe) runs
its WCAG 2 A and AA rules and its best practices. Zero violations."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from heard.streams.content.lint import SAMPLE_NOW, load_linter, sample_contexts
from heard.streams.content.rendering import TemplateProblem
from heard.streams.contract.state import KINDS
from tests.peers import REPO

pytestmark = pytest.mark.integration

AXE = REPO / "devstack" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def emails() -> list[tuple[str, str]]:
    """(which, html) of every kind with an HTML part, each wording, every language: one
    persona per language."""
    linter = load_linter(REPO / "config", REPO / "templates")
    chosen = {}
    for persona in linter.personas:
        if not persona.plain_text_only:
            chosen.setdefault(persona.locale, persona)
    rendered = []
    for kind in KINDS:
        for persona in chosen.values():
            for label, context in sample_contexts(kind, persona, SAMPLE_NOW,
                                                  linter.samples_for(persona)):
                try:
                    email = linter.renderer.render(kind, "email", persona.locale,
                                                   persona.timezone, context)
                except TemplateProblem as exc:
                    pytest.fail(f"{kind}/{persona.key}/{label}: {exc}")
                if email.html is None:
                    continue  # the team's messages are plain text
                rendered.append((f"{kind} {persona.locale} {label or 'plain'}", email.html))
    return rendered


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make prism` installs it (npm ci in devstack/axe)")
    opened = await browser.new_page()
    yield opened
    await opened.close()


async def test_every_email_passes_axe_with_best_practices(page: Page) -> None:
    found = {}
    every = emails()
    assert len(every) > 40
    for which, html in every:
        await page.set_content(html)
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate(
            "async rules => { const r = await axe.run(document, {runOnly: {type: 'tag', "
            "values: rules}}); return r.violations.map(v => v.id + ': ' + v.help + ' (' + "
            "v.nodes.map(n => n.target.join(' ')).join(', ') + ')'); }", RULES)
        if result:
            found[which] = result
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)[:6000]
