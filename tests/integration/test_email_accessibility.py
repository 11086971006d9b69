"""Every HTML email heard can send, read as a screen reader and an accessibility checker would:
each kind in each of its wordings, in every shipped language, rendered from the shipped
templates and loaded into headless Chromium, where axe-core (pinned in devstack/axe) runs
its WCAG 2 A and AA rules and its best practices. Zero violations. And as a spam filter
reads them: Debian's SpamAssassin, local rules, not one with points."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from heard.channels.base import OutboundMessage
from heard.channels.email_smtp import EmailSettings, build_email
from heard.streams.content.lint import load_linter
from heard.streams.content.rendering import TemplateProblem
from heard.streams.content.samples import SAMPLE_NOW, sample_contexts
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
            for label, context in sample_contexts(kind, persona, SAMPLE_NOW, linter.samples_for(persona)):
                try:
                    email = linter.renderer.render(kind, "email", persona.locale, persona.timezone, context)
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
            "v.nodes.map(n => n.target.join(' ')).join(', ') + ')'); }",
            RULES,
        )
        if result:
            found[which] = result
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)[:6000]


def spamassassin() -> str:
    found = shutil.which("spamassassin")
    if found is None:
        pytest.fail("no spamassassin: install Debian's `spamassassin` (.ci/run does)")
    return found


def test_no_spamassassin_rule_scores_on_the_emails_with_links() -> None:
    """SpamAssassin's own rules (local tests only, no network) on the emails that carry the
    most markup: the closure with its rating links and the options with theirs, in every
    language, and an acknowledgment. Not one rule may add points (it once flagged five
    rating links side by side as obfuscated HTML)."""
    config = EmailSettings(
        host="127.0.0.1",
        port=25,
        from_address="support@example.com",
        from_name="Example Support",
        reply_to="support+{ticket_id}@example.com",
        message_id_domain="heard.example.com",
    )
    linter = load_linter(REPO / "config", REPO / "templates")
    chosen = {p.locale: p for p in reversed(linter.personas) if not p.plain_text_only}
    scored = {}
    for kind, locales in (("closure_summary", chosen), ("options", chosen), ("acknowledgment", ["en"])):
        for locale in locales:
            persona = chosen[locale]
            context = sample_contexts(kind, persona, SAMPLE_NOW, linter.samples_for(persona))[0][1]
            email = linter.renderer.render(kind, "email", locale, persona.timezone, context)
            raw = build_email(
                config,
                OutboundMessage(
                    notification_id=str(uuid.uuid4()),
                    ticket_id="T-1",
                    to="amara@example.net",
                    text=email.text,
                    subject=email.subject,
                    html=email.html,
                    display_name="Amara Okafor",
                    thread_subject=context["ticket"]["subject"],
                ),
            )
            report = subprocess.run(
                [spamassassin(), "-L", "-t"], input=raw, capture_output=True, timeout=120, check=True
            ).stdout
            rules = re.findall(rb"^ *(-?\d+\.\d+) ([A-Z][A-Z0-9_]+) ", report, re.M)
            assert rules, report[-2000:]  # the report was read, rules and all
            if any(float(points) != 0 for points, _ in rules):
                scored[f"{kind} {locale}"] = [(float(p), r.decode()) for p, r in rules]
    assert not scored, scored
