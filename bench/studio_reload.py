"""How long a writer waits between saving a template and seeing it in the studio.

Starts `heard templates serve` on a copy of the repository's templates and config, opens the
page in headless Chromium (Debian's, as the tests use it), and for each of several files
(one per kind, in several languages) saves an edit and measures the time until the edited
cell shows it: the whole path a writer waits on (the file watcher, lint and rendering of
the kinds the file belongs to, the page's fetch and redraw). A full re-render (a change to
config/personas.yaml) is measured the same way, for comparison.

    python -m bench.studio_reload [--rounds 5] [--out build/bench/studio_reload.json]

Prints one row per kind of save (min, median, max in ms) and writes the samples as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import Page, async_playwright

REPO = Path(__file__).resolve().parent.parent
# (template file, the text a marker word is added after, the cell and the part of it that
# must show the edit); each save adds a new marker word, then takes it out again.
SAVES = [
    ("acknowledgment/en/sms.txt", "Reply here anytime.", "acknowledgment--everyday", ".bubble"),
    ("closure_summary/fr/email.txt", "{{ customer.greeting_name }}", "closure_summary--french", ".text"),
    ("milestone_update/es/sms.txt", "{{ customer.greeting_name }}", "milestone_update--spanish", ".bubble"),
]
# How long one save may take before the benchmark gives up on it (a broken studio).
GIVE_UP_MS = 120_000


def chromium() -> str:
    for candidate in (os.environ.get("HEARD_CHROMIUM"), "chromium", "chromium-browser"):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    raise SystemExit("no Chromium found: install Debian's `chromium` or set HEARD_CHROMIUM")


async def timed_save(page: Page, path: Path, old: str, new: str, cell: str, part: str, marker: str) -> float:
    text = await asyncio.to_thread(path.read_text)
    assert old in text, f"{path} no longer holds {old!r}"
    started = time.perf_counter()
    await asyncio.to_thread(path.write_text, text.replace(old, new, 1))
    await page.wait_for_function(
        f"(document.querySelector('#cell-{cell} {part}') || {{textContent: ''}})"
        f".textContent.includes({json.dumps(marker)})",
        timeout=GIVE_UP_MS,
    )
    return (time.perf_counter() - started) * 1000


async def settled(page: Page, cell: str, part: str, marker: str) -> None:
    """The undo of a save is shown (so the next save is timed alone)."""
    await page.wait_for_function(
        f"!document.querySelector('#cell-{cell} {part}').textContent.includes({json.dumps(marker)})",
        timeout=GIVE_UP_MS,
    )


async def measure(url: str, work: Path, rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(url)
        await page.wait_for_selector("#cell-acknowledgment--everyday .bubble", timeout=GIVE_UP_MS)
        for round_ in range(rounds):
            for file, anchor, cell, part in SAVES:
                marker = f"bench{round_}x"
                path = work / "templates" / file
                taken = await timed_save(page, path, anchor, f"{anchor} {marker}", cell, part, marker)
                undone = (await asyncio.to_thread(path.read_text)).replace(f" {marker}", "", 1)
                await asyncio.to_thread(path.write_text, undone)
                samples.setdefault(f"one file: {file}", []).append(taken)
                await settled(page, cell, part, marker)
            personas = work / "config" / "personas.yaml"
            good = await asyncio.to_thread(personas.read_text)
            marker = f"Bench{round_}"
            taken = await timed_save(
                page,
                personas,
                'greeting_name: "Amara"',
                f'greeting_name: "{marker}"',
                "acknowledgment--everyday",
                ".text",
                marker,
            )
            await asyncio.to_thread(personas.write_text, good)
            samples.setdefault("every cell: config/personas.yaml", []).append(taken)
            await settled(page, "acknowledgment--everyday", ".text", marker)
        await browser.close()
    return samples


def start_studio(work: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "HEARD_TEMPLATES_DIR": str(work / "templates"),
        "HEARD_CONFIG_DIR": str(work / "config"),
    }
    studio = subprocess.Popen(
        [sys.executable, "-m", "heard.streams.cli", "templates", "serve", "--port", "0"],
        env=env,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert studio.stdout is not None
    first = studio.stdout.readline()
    if not first.startswith("studio: http://"):
        studio.kill()
        raise SystemExit(f"the studio did not start: {first}")
    return studio, first.split()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "build/bench/studio_reload.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="heard-studio-bench-") as folder:
        work = Path(folder)
        shutil.copytree(REPO / "templates", work / "templates")
        shutil.copytree(REPO / "config", work / "config")
        studio, url = start_studio(work)
        try:
            samples = asyncio.run(measure(url, work, args.rounds))
        finally:
            studio.terminate()  # the studio this benchmark started, by its PID
            studio.wait(timeout=30)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(samples, indent=2))
    print(f"save -> cell visible in the page, ms ({args.rounds} rounds; {os.cpu_count()} cores)")
    print(f"{'save':<46} {'min':>7} {'median':>7} {'max':>7}")
    for name, values in samples.items():
        print(f"{name:<46} {min(values):7.0f} {statistics.median(values):7.0f} {max(values):7.0f}")
    print(f"samples: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
