"""The writers' studio in a real headless browser (Debian's Chromium, driven by Playwright):
the grid of every kind for every persona, live reload on save, a template problem shown in
the page, "send me a test" through the real channels to the mail catcher and SMS capture.
(No screenshots: Chromium's capture of this grid stalled now and then, and a picture
asserts nothing; docs/img keeps the ones the docs show.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from heard.streams.content.lint import load_linter
from heard.streams.content.samples import SAMPLE_NOW, sample_contexts
from heard.streams.contract.state import KINDS
from tests.conftest import Catchers
from tests.peers import REPO

pytestmark = pytest.mark.integration

# How long the page may take to show a save or a send: the outcome is what is tested, and a
# slow machine kept busy by other work must still meet it.
PAGE_DEADLINE_MS = 60_000


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A writer's own copy of the templates and config: the test edits these, never the repo's."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "config", tmp_path / "config")
    personas = tmp_path / "config" / "personas.yaml"
    # A persona whose name is markup: it must reach the page as text, never as elements.
    personas.write_text(
        personas.read_text().replace(
            "personas:\n",
            (
                "personas:\n"
                "  - key: markup-name\n"
                '    customer: {name: "<b id=pwned>Bo</b>", greeting_name: "<b id=pwned>Bo</b>", '
                "pronouns: null}\n"
                "    locale: en\n    timezone: UTC\n    channel: email\n"
            ),
            1,
        )
    )
    return tmp_path


@pytest.fixture
def studio(workspace: Path, catchers: Catchers) -> Iterator[str]:
    sms = {
        "TWILIO_BASE_URL": f"http://127.0.0.1:{catchers.sms_port}",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": "test-token",
    }
    yield from running_studio(workspace, catchers, sms)


def running_studio(workspace: Path, catchers: Catchers, extra: dict[str, str]) -> Iterator[str]:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("TWILIO_")},
        "HEARD_TEMPLATES_DIR": str(workspace / "templates"),
        "HEARD_CONFIG_DIR": str(workspace / "config"),
        "SMTP_PORT": str(catchers.mail_port),
        **extra,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "heard.streams.cli",
            "templates",
            "serve",
            "--port",
            "0",
            "--test-email",
            "writer@example.com",
            "--test-phone",
            "+15005550006",
        ],
        env=env,
        cwd=workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the studio prints its address
        if not first.startswith("studio: http://127.0.0.1:"):
            pytest.fail(f"the studio did not start: {first}{process.stdout.read()}")
        yield first.split()[1]
    finally:
        process.terminate()  # the studio this test started, by its PID
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, path
    path.write_text(text.replace(old, new, 1))


async def cell_text(page: Page, cell: str, part: str) -> str:
    return await page.locator(f"#cell-{cell} {part}").first.inner_text()


async def test_the_studio_shows_every_message_and_follows_the_writer(
    studio: str, workspace: Path, browser: Browser, catchers: Catchers
) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(studio)
    await page.wait_for_selector("#cell-acknowledgment--everyday .bubble")

    # The grid: every kind (the team's too) for every persona, in its language.
    linter = load_linter(workspace / "config", workspace / "templates")
    personas = linter.personas
    wordings = sum(len(sample_contexts(kind, persona, SAMPLE_NOW)) for kind in KINDS for persona in personas)
    assert await page.locator("section.cell").count() == wordings > len(KINDS) * len(personas)
    # heard's own promises have their own wordings, each in its own cell.
    assert "first reply the acknowledgment promised" in await cell_text(
        page, "checkpoint_holding--everyday--first-reply", ".wording"
    )
    assert await page.locator("#cell-checkpoint_escalation--spanish").count() == 1
    assert "for the team, by email" in await cell_text(page, "checkpoint_escalation--spanish", ".meta")
    assert (await cell_text(page, "acknowledgment--french", ".subject")).startswith("Nous avons bien reçu")
    frame = page.locator("#cell-closure_summary--everyday iframe.html")
    assert await frame.get_attribute("sandbox") == ""  # no scripts, no same origin
    inner = page.frame_locator("#cell-closure_summary--everyday iframe.html")
    assert "Hi Amara" in await inner.locator("body").inner_text()
    meta = await cell_text(page, "acknowledgment--sms-only", ".sms-meta")
    assert "UCS-2" in meta and "segment(s)" in meta
    assert await page.locator("#cell-acknowledgment--sms-only .bubble mark").first.inner_text() == "Ł"
    # Markup in a persona's name stays text in the page (and escaped in the email).
    assert await page.locator("#pwned").count() == 0
    assert "<b id=pwned>Bo</b>" in await cell_text(page, "acknowledgment--markup-name", ".text")

    # Live reload: a save shows in its cell, and only in the cells it belongs to. (How fast
    # is a benchmark's business, bench/studio_reload.py: this waits for the outcome, with a
    # deadline a slow, busy machine meets.)
    edit(
        workspace / "templates/acknowledgment/en/sms.txt",
        "Reply here anytime.",
        "Reply here anytime, day or night.",
    )
    await page.wait_for_function(
        "document.querySelector('#cell-acknowledgment--everyday .bubble')"
        ".textContent.includes('day or night')",
        timeout=PAGE_DEADLINE_MS,
    )
    assert "day or night" not in await cell_text(page, "acknowledgment--spanish", ".bubble")
    # The save was in acknowledgment/en/: only that kind was rendered again, and only the
    # cells whose message changed were replaced in the page.
    assert await page.locator("#cell-acknowledgment--everyday.updated").count() == 1
    assert await page.locator("#cell-acknowledgment--spanish.updated").count() == 0
    assert await page.locator("#cell-closure_summary--everyday.updated").count() == 0

    # A template problem appears in the page, with file and line, never as a traceback.
    edit(
        workspace / "templates/acknowledgment/en/email.txt",
        "{{ customer.greeting_name }}",
        "{{ customer.greeting_name }",
    )
    problem = page.locator("#cell-acknowledgment--everyday .problems")
    await problem.wait_for(timeout=PAGE_DEADLINE_MS)
    shown = await problem.inner_text()
    assert "acknowledgment/en/email.txt line 1" in shown and "Traceback" not in shown
    assert "error: acknowledgment/en/email.txt line 1" in await cell_text(
        page, "acknowledgment--everyday", ".findings"
    )
    # The filters narrow the grid to one kind and one language.
    await page.select_option("#kind", "acknowledgment")
    await page.select_option("#locale", "en")
    assert await page.locator("section.cell:not(.hidden)").count() == sum(
        len(sample_contexts("acknowledgment", p, SAMPLE_NOW)) for p in personas if p.locale == "en"
    )
    await page.select_option("#kind", "")
    await page.select_option("#locale", "")
    # Only the messages with something to fix: the broken one is among them, clean ones are not.
    await page.check("#problems-only")
    shown = page.locator("section.cell:not(.hidden)")
    assert 0 < await shown.count() < wordings
    assert await page.locator("#cell-acknowledgment--everyday:not(.hidden)").count() == 1
    assert await page.locator('section.cell:not(.hidden)[data-problems="0"]').count() == 0
    await page.uncheck("#problems-only")
    assert await shown.count() == wordings
    # Each cell names the files it is made of; the email can be seen full length and phone-wide.
    assert "templates/acknowledgment/en/email.txt" in await cell_text(
        page, "acknowledgment--everyday", ".files"
    )
    await page.select_option("#email-height", "1400px")
    await page.check("#phone-width")
    frame = "#cell-closure_summary--everyday iframe.html"
    size = await page.eval_on_selector(frame, "f => [getComputedStyle(f).width, getComputedStyle(f).height]")
    assert size == ["375px", "1400px"]

    # "Send me a test": through the real channels to the writer's own address.
    edit(
        workspace / "templates/acknowledgment/en/email.txt",
        "{{ customer.greeting_name }",
        "{{ customer.greeting_name }}",
    )
    await page.locator("#cell-acknowledgment--everyday:not(:has(.problems))").wait_for(
        timeout=PAGE_DEADLINE_MS
    )
    before = set(catchers.mail_dir.glob("*.eml"))
    await page.locator("#cell-closure_summary--german button[data-channel=email]").click()
    said = page.locator("#cell-closure_summary--german .sent")
    await page.wait_for_function(
        "document.querySelector('#cell-closure_summary--german .sent').textContent.startsWith('sent')",
        timeout=PAGE_DEADLINE_MS,
    )
    assert await said.inner_text() == "sent to writer@example.com"
    [mail_path] = set(catchers.mail_dir.glob("*.eml")) - before
    mail = BytesParser(policy=policy.default).parsebytes(mail_path.read_bytes())
    assert mail["To"] == "writer@example.com"
    assert mail["X-Heard-Studio"] == "closure_summary--german"
    assert str(mail["Subject"]).startswith("[test] ")
    sms_before = set(catchers.sms_dir.glob("*.json"))
    await page.locator("#cell-acknowledgment--sms-only button[data-channel=sms]").click()
    await page.wait_for_function(
        "document.querySelector('#cell-acknowledgment--sms-only .sent').textContent.startsWith('sent')",
        timeout=PAGE_DEADLINE_MS,
    )
    [sms_path] = set(catchers.sms_dir.glob("*.json")) - sms_before
    assert "Łukasz" in sms_path.read_text()
    # The team's messages have no SMS button.
    assert await page.locator("#cell-checkpoint_nudge--everyday button[data-channel=sms]").count() == 0

    # A broken personas file is said on the page, and the studio keeps following saves.
    personas_file = workspace / "config" / "personas.yaml"
    good = personas_file.read_text()
    personas_file.write_text(good.replace("timezone: Europe/London", "timezone: Mars/Olympus", 1))
    await page.wait_for_function(
        "document.getElementById('problem').textContent.includes('Mars/Olympus')", timeout=PAGE_DEADLINE_MS
    )
    personas_file.write_text(good)
    await page.wait_for_function(
        "document.getElementById('problem').style.display === 'none'"
        " && document.querySelectorAll('section.cell').length > 0",
        timeout=PAGE_DEADLINE_MS,
    )
    # A loop that would hold the studio for minutes is a problem in its cell instead.
    edit(
        workspace / "templates/milestone_update/en/sms.txt",
        "{{ customer.greeting_name }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}.{% endfor %}{% endfor %}"
        "{{ customer.greeting_name }}",
    )
    looping = page.locator("#cell-milestone_update--everyday .problems")
    await looping.wait_for(timeout=PAGE_DEADLINE_MS)
    assert "a template may loop at most 1000 times" in await looping.inner_text()


def test_the_studio_answers_loopback_names_only(studio: str) -> None:
    request = urllib.request.Request(studio + "cells", headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 403
    with urllib.request.urlopen(studio + "cells", timeout=60) as answer:
        assert answer.status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a plain cross-site form post: no studio header
        {"X-Heard-Studio": "1", "Origin": "https://attacker.example"},
        {"X-Heard-Studio": "1", "Sec-Fetch-Site": "cross-site"},
    ],
    ids=["form post", "other origin", "cross-site fetch"],
)
def test_another_site_cannot_make_the_studio_send(
    studio: str, headers: dict[str, str], catchers: Catchers
) -> None:
    before = set(catchers.mail_dir.glob("*.eml"))
    request = urllib.request.Request(
        studio + "send", method="POST", headers=headers, data=b"cell=acknowledgment--everyday&channel=email"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 403
    assert set(catchers.mail_dir.glob("*.eml")) == before


def test_a_test_email_needs_no_twilio_settings(workspace: Path, catchers: Catchers) -> None:
    """A writer with only a mail server: the email test send works, the SMS one says why not."""
    running = running_studio(workspace, catchers, {})
    studio_url = next(running)
    try:
        check_test_sends(studio_url, catchers)
    finally:
        running.close()  # stops the studio this test started, by its PID


def check_test_sends(studio_url: str, catchers: Catchers) -> None:
    headers = {"X-Heard-Studio": "1", "Origin": studio_url.rstrip("/")}
    before = set(catchers.mail_dir.glob("*.eml"))

    def send(channel: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            studio_url + "send",
            method="POST",
            headers=headers,
            data=f"cell=acknowledgment--everyday&channel={channel}".encode(),
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    status, sent = send("email")
    assert (status, sent["ok"], sent["to"]) == (200, True, "writer@example.com")
    assert len(set(catchers.mail_dir.glob("*.eml")) - before) == 1
    status, refused = send("sms")
    assert status == 422 and "TWILIO_ACCOUNT_SID" in refused["reason"]
