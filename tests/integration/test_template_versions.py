"""Writers publish safely, on the real stack: a worker running on real Kafka renders with
the published version, switches between two messages when a new one is published, records
the version with each message, goes back with a rollback, and never renders the draft — not
even a broken one sitting in its templates folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from heard.streams.contract import stories
from heard.streams.kafka.readback import read_topic
from tests.conftest import Catchers, Worker, wait_for, worker_env
from tests.integration.test_end_to_end import engine, mails_for, send
from tests.integration.test_studio import PAGE_DEADLINE_MS, running_studio
from tests.integration.test_twilio_callbacks import texts_to
from tests.peers import REPO

pytestmark = pytest.mark.integration
TEXT = "acknowledgment/en/email.txt"


def heard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heard.streams.cli", "templates", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def text_of(kafka: tuple[str, str], catchers: Catchers, ticket: str) -> str:
    """The plain text of the acknowledgment a new ticket gets."""
    await send(*kafka, [stories.created(ticket, datetime.now(UTC), eid=ticket)])
    await wait_for(lambda: mails_for(catchers.mail_dir, ticket), 60, f"the acknowledgment of {ticket}")
    [ack] = mails_for(catchers.mail_dir, ticket)
    return str(ack.get_body(("plain",)).get_content()).replace("\r\n", "\n")


async def test_workers_render_the_published_version_switch_between_messages_and_roll_back(
    kafka_bootstrap: str,
    topic_prefix: str,
    catchers: Catchers,
    tmp_path: Path,
    worker_with: Callable[..., Worker],
) -> None:
    draft = tmp_path / "templates"
    shutil.copytree(REPO / "templates", draft)
    env = worker_env(kafka_bootstrap, catchers, topic_prefix, HEARD_TEMPLATES_DIR=str(draft))
    env["HEARD_DATA_DIR"] = str(tmp_path / "cli-data")
    kafka = (kafka_bootstrap, topic_prefix)
    worker = worker_with(HEARD_TEMPLATES_DIR=str(draft), HEARD_DATA_DIR=str(tmp_path / "worker-data"))

    # Nothing published: the folder is what there is.
    assert not (await text_of(kafka, catchers, "TV-0")).startswith("V-")
    original = (draft / TEXT).read_text()
    (draft / TEXT).write_text("V-ONE\n" + original)
    published = heard(env, "publish", "--by", "ana")
    assert published.returncode == 0, published.stdout + published.stderr
    one = published.stdout.split()[1]
    worker.wait_for_line(f"templates: rendering with version {one}", 60)
    (draft / TEXT).write_text("V-DRAFT\n" + original)  # a writer goes on editing: not live
    assert (await text_of(kafka, catchers, "TV-1")).startswith("V-ONE\n")

    # A broken draft is refused, and the worker keeps the published version while the
    # folder it was started with holds the broken file.
    (draft / TEXT).write_text("V-BROKEN {{ ticket.subject }\n" + original)
    refused = heard(env, "publish", "--by", "ana")
    assert refused.returncode == 1 and "not published: 1 error(s)" in refused.stdout, refused.stdout
    assert TEXT in refused.stdout
    assert (await text_of(kafka, catchers, "TV-2")).startswith("V-ONE\n")

    (draft / TEXT).write_text("V-TWO\n" + original)
    two = heard(env, "publish", "--by", "ben").stdout.split()[1]
    worker.wait_for_line(f"templates: rendering with version {two}", 60)
    assert (await text_of(kafka, catchers, "TV-3")).startswith("V-TWO\n")

    rolled = heard(env, "rollback", one, "--by", "ana")
    assert rolled.returncode == 0 and f"rolled back to {one} (was {two})" in rolled.stdout, rolled.stdout
    worker.wait_for_line(f"templates: rendering with version {one} (rollback by ana)", 60)
    assert (await text_of(kafka, catchers, "TV-4")).startswith("V-ONE\n")

    listed = heard(env, "versions").stdout
    assert f"* {one}" in listed and f"  {two}" in listed and f"current: {one} (rollback by ana)" in listed
    unknown = heard(env, "rollback", "0123456789ab")
    assert unknown.returncode == 2 and "no published version '0123456789ab'" in unknown.stdout

    # One acknowledgment by text too, then a draft whose text is longer.
    texting = stories.customer(
        phone="+14155550199", preferred_channel="sms", consent={"email": False, "sms": True}
    )
    await send(*kafka, [stories.created("TV-5", datetime.now(UTC), eid="TV-5", customer=texting)])
    await wait_for(lambda: texts_to(catchers, "+14155550199"), 60, "the acknowledgment by text")
    sms = draft / "acknowledgment/en/sms.txt"
    sms.write_text(
        sms.read_text().rstrip("\n") + " " + "We keep you posted at every step until it is done. " * 3 + "\n"
    )

    # What the draft (V-TWO, the longer text) would change in the six acknowledgments really
    # sent, against the published version (V-ONE): all six, as the lines it changes, and what
    # the text costs.
    report = heard(env, "whatif", "--since", "1h")
    said = report.stdout.splitlines()
    # The longer text is over its budget for some readers (lint's personas with non-Latin
    # names): the report says so, and the command fails as publishing would.
    assert report.returncode == 1 and re.fullmatch(r"lint of the draft: [1-9]\d* error\(s\).*", said[-1]), (
        said
    )
    assert said[0].startswith(f"what-if: the draft in {draft} against the published {one}, over 6 message(s)")
    assert "acknowledgment: 6 message(s), 6 change" in said
    assert "    -V-ONE" in said and "    +V-TWO" in said
    [cost] = [line for line in said if line.startswith("  SMS: ")]
    before, after = (int(n) for n in re.findall(r"(\d+) part\(s\) before, (\d+) after", cost)[0])
    assert after > before and cost.endswith("; 1 text(s) cost more"), cost

    # Each message records the version it was rendered with.
    outcomes = [
        json.loads(value)
        for _, value, _ in await read_topic(engine(*kafka), f"{topic_prefix}notification-events")
    ]
    versions = {o["ticket_id"]: o["templates_version"] for o in outcomes if o["status"] == "sent"}
    assert versions == {"TV-0": None, "TV-1": one, "TV-2": one, "TV-3": two, "TV-4": one, "TV-5": one}


async def test_a_writer_drives_draft_whatif_and_publish_from_the_studio(
    kafka_bootstrap: str,
    topic_prefix: str,
    catchers: Catchers,
    tmp_path: Path,
    worker_with: Callable[..., Worker],
    browser: Browser,
) -> None:
    """In a real browser: publish the folder, let the worker send two acknowledgments, edit
    the draft, see what it would change in those two, publish it; a broken draft is refused."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "config", tmp_path / "config")
    text = tmp_path / "templates" / TEXT
    worker = worker_with(
        HEARD_TEMPLATES_DIR=str(tmp_path / "templates"), HEARD_DATA_DIR=str(tmp_path / "worker-data")
    )
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "HEARD_TOPIC_PREFIX": topic_prefix}
    for studio in running_studio(tmp_path, catchers, kafka):
        page = await browser.new_page()
        await page.goto(studio)
        one = (await press(page, "publish")).split()[1]
        worker.wait_for_line(f"templates: rendering with version {one}", 60)
        kafka_at = (kafka_bootstrap, topic_prefix)
        for ticket in ("ST-1", "ST-2"):
            assert not (await text_of(kafka_at, catchers, ticket)).startswith("STUDIO-DRAFT")
        original = text.read_text()
        text.write_text("STUDIO-DRAFT\n" + original)
        said = await press(page, "whatif")
        assert "acknowledgment: 2 message(s), 2 change" in said and "+STUDIO-DRAFT" in said, said
        assert f"against the published {one}" in said
        said = await press(page, "publish")
        assert said.startswith("published ") and f"; was {one})" in said, said
        text.write_text("{{ customer.greeting_name }\n" + original)
        said = await press(page, "publish", "refused")
        assert "not published: 1 error(s)" in said and TEXT in said, said
        await page.close()


async def press(page: Page, button: str, outcome: str = "done") -> str:
    """Press one of the studio's buttons; its report, once the answer is in."""
    await page.click(f"#{button}")
    await page.locator('#report:not([data-state="working"])').wait_for(timeout=PAGE_DEADLINE_MS)
    said = await page.locator("#report pre").inner_text()
    assert await page.locator("#report").get_attribute("data-state") == outcome, said
    return said
