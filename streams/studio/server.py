"""`heard templates serve`: the writers' studio, on 127.0.0.1.

Every message kind (the team's too) rendered for every persona of config/personas.yaml at
lint's own moment and with lint's own sample data, in one page: the subject, the HTML email
in a sandboxed frame, the plain-text part, the SMS as a phone bubble with its segments and
the characters that force UCS-2 marked, and the lint findings of that cell with file and
line. Saving a template or the personas file refreshes the cells it changed; a template
that cannot render shows its problem in the cell, never a traceback. "Send me a test"
delivers the rendered message through the configured channels (the dev stack's mail
catcher and SMS capture by default).

Routes: `GET /` (the page), `GET /cells` (JSON), `GET /changes` (server-sent events, one per
change on disk), `POST /send` (form: cell, channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from heard.channels.base import DeliveryError, OutboundMessage
from heard.channels.registry import PLUGINS
from heard.streams.base.http import ListenerLimits
from heard.streams.base.http import serve as serve_http_app
from heard.streams.base.settings import ConfigError
from heard.streams.content.lint import Finding, Linter, load_linter
from heard.streams.content.rendering import TemplateProblem
from heard.streams.content.samples import SAMPLE_NOW, sample_contexts
from heard.streams.content.sms_segments import segments
from heard.streams.contract.state import CUSTOMER_KINDS, KINDS
from heard.streams.delivery.config import Settings, load_settings
from heard.streams.delivery.template_publishing import Told, publish_folder, since_span, whatif_folder
from heard.streams.studio.page import PAGE

log = logging.getLogger("heard.studio")

STUDIO_LIMITS = ListenerLimits(name="studio", request_seconds=None, max_connections=64)
# A save touches a file once or twice in quick succession; wait this long for the rest.
DEBOUNCE_MS = 120
# What each sample wording is, in a writer's words (lint.sample_contexts names them).
WORDINGS = {
    "": "",
    "no-milestone": "when the ticket has no milestone: the first reply",
    "reopened": "the customer wrote after the resolution, and the request is open again",
    "first-reply": "for the first reply the acknowledgment promised",
    "follow-up": 'the customer wrote again after a reply: "a reply", not "a first"',
    "next-update": "for the next update a holding update promised",
    "last-holding": "the last holding update in a row (names no time)",
    "two-options": "two options, no deadline, no intro, no links; one without "
    "trade-off or timeline (and the one chosen without them)",
    "changed-choice": "the customer changed their choice",
    "no-links": "the rating asked without links (no link secret configured)",
    "no-question": "no rating asked (feedback ask: false)",
    "first-promise": "announcing an agent's first promise",
    "new-owner": "the one update after a change of owner",
    "unclear": "the answer named none of the options: the customer asked again",
    "unclear-again": "a second unclear answer: the owner's move",
}


@dataclass
class Rendering:
    """What one rendering gave: the cells, or the problem that stopped it, and the linter
    it used (the next rendering of a few kinds starts from it)."""

    problem: str | None
    cells: list[dict[str, Any]]
    linter: Linter | None = None


@dataclass
class StudioState:
    """What the page shows: every cell, each stamped with the generation it last changed
    in, so a page that knows generation N fetches only what changed after it."""

    config: Path
    templates: Path
    test_email: str
    test_phone: str
    generation: int = 0
    problem: str | None = None
    cells: list[dict[str, Any]] | None = None
    linter: Linter | None = None
    listeners: set[asyncio.Queue[str]] = field(default_factory=set)

    def take(self, rendered: Rendering, kinds: set[str] | None = None) -> list[str]:
        """Take a rendering of every cell (`kinds` None) or of the kinds named; return the
        ids of the cells whose content changed, each stamped with a new generation."""
        self.generation += 1
        previous = {cell["id"]: cell for cell in self.cells or []}
        fresh = rendered.cells
        if kinds is not None and self.cells is not None:
            by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
            for cell in self.cells:
                if cell["kind"] not in kinds:
                    by_kind[cell["kind"]].append(cell)
            for cell in fresh:
                by_kind[cell["kind"]].append(cell)
            fresh = [cell for kind in KINDS for cell in by_kind[kind]]
        changed = []
        for cell in fresh:
            old = previous.get(cell["id"])
            if old is not None and old["digest"] == cell["digest"]:
                cell["generation"] = old["generation"]
            else:
                cell["generation"] = self.generation
                changed.append(cell["id"])
        self.problem, self.cells, self.linter = rendered.problem, fresh, rendered.linter
        return changed


def sms_runs(text: str) -> list[tuple[str, bool]]:
    """The SMS as runs of text, each marked if its characters are outside GSM-7 (any one
    of them makes the whole message UCS-2: 70 characters a part instead of 160)."""
    runs: list[tuple[str, bool]] = []
    for char in text:
        forced = segments(char)[1] == "UCS-2"
        if runs and runs[-1][1] == forced:
            runs[-1] = (runs[-1][0] + char, forced)
        else:
            runs.append((char, forced))
    return runs


def findings_for(
    findings: list[Finding], files: list[str], kind: str, locale: str, persona: str
) -> list[str]:
    """The lint findings about this cell: its files, and its persona when one is named."""
    mine = []
    for finding in findings:
        if not (any(name in finding.where for name in files) or f"{kind}/{locale}/" in finding.where):
            continue
        named = finding.message.split(":", 1)[0]
        if named.startswith("persona ") and named[len("persona ") :].split("/")[0] != persona:
            continue
        mine.append(str(finding))
    return list(dict.fromkeys(mine))


def render_cells(
    config: Path, templates: Path, kinds: set[str] | None = None, last: Linter | None = None
) -> Rendering:
    """Every kind (or the kinds named) for every persona, in each of its wordings, as the
    page shows it; a problem anywhere is a value on the page, never an exception out of
    here. `last`, the linter of the rendering before, is reused when only templates of the
    kinds named changed (the config is then as it was)."""
    try:
        linter = last.again() if last is not None and kinds is not None else load_linter(config, templates)
        linter.run(kinds=kinds)
        cells = [
            one_cell(linter, kind, persona, label, context)
            for kind in KINDS
            if kinds is None or kind in kinds
            for persona in linter.personas
            for label, context in sample_contexts(kind, persona, SAMPLE_NOW, linter.samples_for(persona))
        ]
    except (ConfigError, ValidationError, OSError) as exc:
        return Rendering(f"cannot load the studio's configuration: {exc}", [])
    except Exception as exc:  # the page says what broke; the studio keeps serving and watching
        log.exception("studio: rendering failed")
        return Rendering(f"the studio could not render the templates: {type(exc).__name__}: {exc}", [])
    return Rendering(None, cells, linter)


def one_cell(linter: Linter, kind: str, persona: Any, label: str, context: dict[str, Any]) -> dict[str, Any]:
    renderer = linter.renderer
    team_channels = [p for p in PLUGINS.values() if "team" in p.audiences and p.name != "email"]
    parts = ["subject.txt", "email.txt", "email.html", "sms.txt", *(p.parts.text for p in team_channels)]
    files = [name for file in parts if (name := renderer.resolve(kind, persona.locale, file)) is not None]
    named = f"persona {persona.key}{'/' + label if label else ''}:"
    findings = [
        f for f in linter.findings if not f.message.startswith("persona ") or f.message.startswith(named)
    ]
    cell: dict[str, Any] = {
        "id": f"{kind}--{persona.key}" + (f"--{label}" if label else ""),
        "kind": kind,
        "persona": persona.key,
        "wording": WORDINGS.get(label, label),
        "locale": persona.locale,
        "channel": persona.channel,
        "team": kind not in CUSTOMER_KINDS,
        "written_in": files[0].split("/")[1] if files else None,
        "files": files,
        "findings": findings_for(findings, files, kind, persona.locale, persona.key),
        "subject": None,
        "text": None,
        "html": None,
        "sms": None,
        "posts": [],
        "problems": [],
    }
    try:
        email = renderer.render(
            kind, "email", persona.locale, persona.timezone, context, persona.plain_text_only
        )
        cell.update(subject=email.subject, text=email.text, html=email.html)
    except TemplateProblem as exc:
        cell["problems"].append(str(exc))
    if kind in CUSTOMER_KINDS:
        try:
            cell["sms"] = sms_cell(linter, kind, persona, context)
        except TemplateProblem as exc:
            cell["problems"].append(str(exc))
    else:
        # The team's message as each plug-in carrying it shows it (a Slack post).
        for plugin in team_channels:
            if renderer.resolve(kind, persona.locale, plugin.parts.text) is None:
                continue
            try:
                post = renderer.render(kind, plugin.name, persona.locale, persona.timezone, context)
                cell["posts"].append({"channel": plugin.name, "text": post.text})
            except TemplateProblem as exc:
                cell["problems"].append(str(exc))
    cell["digest"] = hashlib.sha256(json.dumps(cell, sort_keys=True).encode()).hexdigest()[:16]
    return cell


def sms_cell(linter: Linter, kind: str, persona: Any, context: dict[str, Any]) -> dict[str, Any]:
    """The text message as the phone shows it: its segments, the characters that force
    UCS-2, and which parts gave way to fit the kind's budget."""
    sms = linter.renderer.render(kind, "sms", persona.locale, persona.timezone, context)
    count, encoding, units = segments(sms.text)
    return {
        "text": sms.text,
        "segments": count,
        "encoding": encoding,
        "units": units,
        "runs": sms_runs(sms.text),
        "budget": linter.settings.sms_budget(kind),
        "gave_way": sms.gave_way,
    }


def kinds_touched(paths: list[Path], templates: Path) -> set[str] | None:
    """The message kinds whose cells a change can alter: a file inside `<kind>/` alters
    only that kind's cells (every finding and rendering of a kind comes from its own
    files); anything else (a layout, a page, config, the folder itself) alters them all,
    and so does None."""
    kinds: set[str] = set()
    for path in paths:
        try:
            inside = path.relative_to(templates).parts
        except ValueError:
            return None
        if len(inside) < 2 or inside[0] not in KINDS:
            return None
        kinds.add(inside[0])
    return kinds


# ------------------------------------------------------------------ routes
STATE = web.AppKey("studio", StudioState)


def _allowed_host(request: web.Request) -> bool:
    """Loopback names only: a page elsewhere cannot reach the studio by DNS rebinding."""
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _same_origin(request: web.Request) -> bool:
    """A POST from the studio's own page: the header its script adds (another site's page
    cannot add it without a CORS preflight the studio never grants), and the browser's own
    word on where the request came from when it gives one."""
    if request.headers.get("X-Heard-Studio") != "1":
        return False
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"http://{request.host}":
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


@web.middleware
async def loopback_only(request: web.Request, handler: Any) -> web.StreamResponse:
    if not _allowed_host(request):
        return web.Response(status=403, text="the studio answers on 127.0.0.1 only\n")
    if request.method != "GET" and not _same_origin(request):
        return web.Response(status=403, text="only the studio's own page can send\n")
    response: web.StreamResponse = await handler(request)
    return response


async def page(_request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def rendered_cells(state: StudioState) -> list[dict[str, Any]]:
    if state.cells is None:
        state.take(await asyncio.to_thread(render_cells, state.config, state.templates))
    assert state.cells is not None
    return state.cells


async def cells(request: web.Request) -> web.Response:
    """Every cell's id in page order, and the whole of each cell that changed after the
    generation the page names (`?since=N`; every cell without it)."""
    state = request.app[STATE]
    every = await rendered_cells(state)
    try:
        since = int(request.query.get("since", "-1"))
    except ValueError:
        return web.json_response({"error": "since must be a generation number"}, status=400)
    return web.json_response(
        {
            "generation": state.generation,
            "problem": state.problem,
            "ids": [cell["id"] for cell in every],
            "cells": [cell for cell in every if cell["generation"] > since],
        }
    )


async def changes(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue: asyncio.Queue[str] = asyncio.Queue()
    state.listeners.add(queue)
    try:
        await response.write(f"data: {json.dumps({'generation': state.generation})}\n\n".encode())
        while True:
            await response.write(f"data: {await queue.get()}\n\n".encode())
    except ConnectionResetError:
        pass  # the writer closed the tab: nothing to tell them
    finally:
        state.listeners.discard(queue)
    return response


async def send(request: web.Request) -> web.Response:
    """Deliver one cell's message through the configured channel, to the writer's own
    test address (never a persona's)."""
    state = request.app[STATE]
    form = await request.post()
    cell_id, channel_name = str(form.get("cell", "")), str(form.get("channel", "email"))
    cell = next((c for c in await rendered_cells(state) if c["id"] == cell_id), None)
    if cell is None:
        return web.json_response({"ok": False, "reason": f"no cell {cell_id!r}"}, status=404)
    if cell["problems"]:
        return web.json_response(
            {"ok": False, "reason": "this message does not render: " + "; ".join(cell["problems"])},
            status=422,
        )
    if channel_name == "sms" and cell["sms"] is None:
        return web.json_response({"ok": False, "reason": "the team's messages go by email only"}, status=422)
    try:
        settings = load_settings(state.config)
        if channel_name not in settings.channels.enabled:
            return web.json_response(
                {"ok": False, "reason": f"the {channel_name} channel is not enabled in config/channels.yaml"},
                status=422,
            )
        from heard.channels.registry import build_channel

        # Only the channel asked for: a writer testing an email needs no Twilio credentials.
        channel = build_channel(channel_name, settings.channels.section_named(channel_name), os.environ)
    except (ConfigError, ValidationError) as exc:
        return web.json_response({"ok": False, "reason": str(exc)}, status=422)
    except ValueError as exc:  # a channel's setting or secret missing, named by its plug-in
        return web.json_response({"ok": False, "reason": f"config/channels.yaml: {exc}"}, status=422)
    message = OutboundMessage(
        notification_id=str(uuid.uuid4()),
        ticket_id="STUDIO-TEST",
        to=state.test_phone if channel_name == "sms" else state.test_email,
        text=cell["sms"]["text"] if channel_name == "sms" else cell["text"],
        subject=None if channel_name == "sms" else f"[test] {cell['subject']}",
        html=None if channel_name == "sms" else cell["html"],
        headers={"X-Heard-Kind": cell["kind"], "X-Heard-Studio": cell["id"]},
    )
    try:
        receipt = await channel.send(message)
    except DeliveryError as exc:
        return web.json_response({"ok": False, "reason": exc.reason}, status=502)
    finally:
        await channel.aclose()
    return web.json_response(
        {"ok": True, "to": message.to, "channel": channel_name, "provider_id": receipt.provider_id}
    )


def studio_settings(state: StudioState) -> Settings:
    """The configuration the studio was started with, its templates folder the draft."""
    settings = load_settings(state.config)
    engine = settings.engine.model_copy(update={"templates_dir": str(state.templates)})
    return settings.model_copy(update={"engine": engine})


async def told_as_json(doing: str, state: StudioState, act: Any) -> web.Response:
    """Run a publish or a what-if for the page; a configuration or Kafka problem is said, not
    raised (the writer sees it in the report)."""
    try:
        told: Told = await act(studio_settings(state))
    except (ConfigError, ValidationError) as exc:
        return web.json_response({"ok": False, "lines": [f"{doing}: {exc}"]}, status=422)
    except Exception as exc:  # Kafka unreachable or refusing: said to the writer, the studio goes on
        log.warning("studio: %s failed: %s", doing, exc)
        return web.json_response(
            {"ok": False, "lines": [f"{doing}: Kafka did not answer ({type(exc).__name__}: {exc})"]},
            status=503,
        )
    return web.json_response({"ok": told.ok, "lines": told.lines, "version": told.version})


async def publish_draft(request: web.Request) -> web.Response:
    """The draft, lint-gated, published for every worker (as `heard templates publish`)."""
    by = f"studio ({getpass.getuser()})"
    return await told_as_json("publish", request.app[STATE], lambda settings: publish_folder(settings, by))


async def what_if(request: web.Request) -> web.Response:
    """What the draft would change in the messages sent in the last `since` (7d)."""
    try:
        span = since_span(request.query.get("since", "7d"))
    except ValueError as exc:
        return web.json_response({"ok": False, "lines": [str(exc)]}, status=400)
    return await told_as_json(
        "what-if", request.app[STATE], lambda settings: whatif_folder(settings, span, 3)
    )


async def watch(app: web.Application) -> AsyncIterator[None]:
    """Re-render on every save under the templates and config folders and tell each page."""
    from watchfiles import awatch

    state = app[STATE]

    async def follow() -> None:
        # The folders' parents are watched too, so a folder deleted and made again (a
        # checkout, a copy over it) is followed instead of silently dropped.
        watched = {state.templates.resolve().parent, state.config.resolve().parent}
        roots = (state.templates.resolve(), state.config.resolve())
        async for changed in awatch(*watched, debounce=DEBOUNCE_MS, step=30):
            paths = [Path(path) for _, path in changed]
            if not any(root == path or root in path.parents for path in paths for root in roots):
                continue
            kinds = kinds_touched(paths, state.templates.resolve())
            if state.problem is not None:
                kinds = None  # the last rendering failed whole: nothing of it to keep
            rendered = await asyncio.to_thread(
                render_cells, state.config, state.templates, kinds, state.linter
            )
            if rendered.problem is not None:
                kinds = None  # say the problem, and show no cell from before it
            updated = state.take(rendered, kinds)
            files = sorted({path.name for path in paths})
            log.info(
                "studio: %s changed; %d cell(s) re-rendered, %d changed",
                ", ".join(files),
                len(rendered.cells),
                len(updated),
            )
            for queue in state.listeners:
                queue.put_nowait(
                    json.dumps({"generation": state.generation, "files": files, "cells": len(updated)})
                )

    task = asyncio.create_task(follow())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def build_studio(config: Path, templates: Path, test_email: str, test_phone: str) -> web.Application:
    app = web.Application(middlewares=[loopback_only])
    app[STATE] = StudioState(config=config, templates=templates, test_email=test_email, test_phone=test_phone)
    app.router.add_get("/", page)
    app.router.add_get("/cells", cells)
    app.router.add_get("/changes", changes)
    app.router.add_post("/send", send)
    app.router.add_get("/whatif", what_if)
    app.router.add_post("/publish", publish_draft)
    app.cleanup_ctx.append(watch)
    return app


def serve_command(
    config: Path, templates: Path, host: str, port: int, test_email: str, test_phone: str
) -> int:
    if not templates.is_dir():
        print(f"no templates folder at {templates}")
        return 2
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"the studio serves on this machine only (127.0.0.1, localhost or ::1), "
            f"not {host}: it can send messages through the configured channels"
        )
        return 2
    app = build_studio(config, templates, test_email, test_phone)

    async def run() -> None:
        sock = socket.create_server((host, port))  # port 0: any free port, printed below
        # Header and connection bounds like every listener; no request bound: the page's
        # live-reload stream stays open as long as the page does.
        listener = await serve_http_app(app, host, port, STUDIO_LIMITS, sock=sock)
        print(
            f"studio: http://{host}:{listener.port}/  (templates {templates}, config {config}; Ctrl-C stops)",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await listener.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0
