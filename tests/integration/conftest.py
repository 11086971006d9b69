"""Fixtures the integration tests share beyond the services in tests/conftest.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright


def chromium() -> str:
    """The system's Chromium: Playwright's own browser download is not used."""
    for candidate in (os.environ.get("HEARD_CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    pytest.fail("no Chromium found: install Debian's `chromium` or set HEARD_CHROMIUM")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
        launched = await playwright.chromium.launch(executable_path=chromium(),
                                                    args=["--no-sandbox"])
        yield launched
        await launched.close()
