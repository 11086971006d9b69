"""Local peers for the dev stack: a mail catcher and an SMS capture, both on 127.0.0.1.

The mail catcher is a real SMTP server (aiosmtpd) that stores every received
message as a `.eml` file. The SMS capture accepts the Twilio Messages API
(`POST /2010-04-01/Accounts/{sid}/Messages.json`, basic auth) and stores each
message as JSON, answering with a Twilio-shaped 201 — or, for Twilio's
documented magic test numbers, with the error Twilio's test credentials give
(e.g. +15005550004 -> 400/21610 "unsubscribed recipient").
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

_counter = itertools.count(1)

# Twilio test credentials' magic "To" numbers and the errors they produce.
MAGIC_TO_ERRORS: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


class SavingHandler:
    """aiosmtpd handler: one `.eml` file per accepted message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        path = self.folder / f"{_stamp()}-{next(_counter):06d}.eml"
        path.write_bytes(content)
        return "250 Message accepted for delivery"


class SessionCounter:
    """How many SMTP sessions were open at once, at most: the evidence that a sender really
    sends several messages together. The peak is kept in `sessions.peak` beside the mail;
    deleting the file starts a new measure."""

    def __init__(self, folder: Path) -> None:
        self.path, self.open, self.peak = folder / "sessions.peak", 0, 0

    def opened(self) -> None:
        self.open += 1
        if not self.path.exists():
            self.peak = 0
        if self.open > self.peak:
            self.peak = self.open
            self.path.write_text(str(self.peak))

    def closed(self) -> None:
        self.open -= 1


class CountedSMTP(SMTP):
    def __init__(self, handler: SavingHandler, counter: SessionCounter, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.counter = counter

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.counter.opened()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.counter.closed()
        super().connection_lost(error)


async def start_mail_catcher(folder: Path, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    loop = asyncio.get_running_loop()
    handler = SavingHandler(folder)
    counter = SessionCounter(folder)
    return await loop.create_server(
        lambda: CountedSMTP(handler, counter, hostname=host, enable_SMTPUTF8=True), host=host, port=port
    )


def parse_faults(spec: str) -> list[tuple[int, float]]:
    """`429for10,503for5` -> answer 429 for 10 s from the first request, then 503 for 5 s."""
    windows: list[tuple[int, float]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        status, _, seconds = part.partition("for")
        try:
            windows.append((int(status), float(seconds)))
        except ValueError:
            raise ValueError(f"fault {part!r}: write STATUSforSECONDS, e.g. 429for10") from None
    return windows


def sms_capture_app(
    folder: Path,
    faults: list[tuple[int, float]] | None = None,
) -> web.Application:
    """`faults`: (status, seconds) windows answered from the first request on — 429 with
    Retry-After 1, or a 5xx — as a throttled or failing Twilio would."""
    folder.mkdir(parents=True, exist_ok=True)
    windows = list(faults or [])
    first_request: list[float] = []

    def scripted_status() -> int | None:
        now = time.monotonic()
        if not first_request:
            first_request.append(now)
        elapsed = now - first_request[0]
        for status, seconds in windows:
            if elapsed < seconds:
                return status
            elapsed -= seconds
        return None

    async def create_message(request: web.Request) -> web.Response:
        status = scripted_status() if windows else None
        if status is not None:
            return scripted_failure(status)
        if request.headers.get("Authorization", "").split(" ")[0] != "Basic":
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = await request.post()
        fields: dict[str, Any] = {key: str(value) for key, value in form.items()}
        if "To" not in fields or "Body" not in fields:
            return web.json_response(
                {"code": 21604, "message": "A 'To' and a 'Body' are required", "status": 400}, status=400
            )
        if fields["To"] in MAGIC_TO_ERRORS:
            code, text = MAGIC_TO_ERRORS[fields["To"]]
            return web.json_response(
                {
                    "code": code,
                    "message": text,
                    "status": 400,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}",
                },
                status=400,
            )
        return captured(folder, request.match_info["sid"], fields)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create_message)
    return app


def scripted_failure(status: int) -> web.Response:
    """A throttled (429, with Retry-After 1) or failing Twilio, as its API answers."""
    if status == 429:
        return web.json_response(
            {"code": 20429, "message": "Too Many Requests", "status": 429},
            status=429,
            headers={"Retry-After": "1"},
        )
    return web.json_response(
        {"code": 20500, "message": "Internal Server Error", "status": status}, status=status
    )


def captured(folder: Path, account: str, fields: dict[str, Any]) -> web.Response:
    """The message kept as a JSON file, and answered as Twilio answers a queued one."""
    sid = "SM" + secrets.token_hex(16)
    now = datetime.now(UTC)
    record = {"sid": sid, "account_sid": account, "received_at": now.isoformat(), **fields}
    (folder / f"{_stamp()}-{sid}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    body = {
        "sid": sid,
        "account_sid": account,
        "to": fields["To"],
        "from": fields.get("From"),
        "body": fields["Body"],
        "status": "queued",
        "messaging_service_sid": fields.get("MessagingServiceSid"),
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
    }
    return web.json_response(body, status=201)


async def start_sms_capture(
    folder: Path, port: int, host: str = "127.0.0.1", faults: list[tuple[int, float]] | None = None
) -> web.AppRunner:
    runner = web.AppRunner(sms_capture_app(folder, faults), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(folder: Path, mail_port: int, sms_port: int, faults: list[tuple[int, float]]) -> None:
    mail = await start_mail_catcher(folder / "mail", mail_port)
    sms = await start_sms_capture(folder / "sms", sms_port, faults=faults)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mail catcher on 127.0.0.1:{mail_port}, SMS capture on 127.0.0.1:{sms_port}", flush=True)
    await stop.wait()
    mail.close()
    await mail.wait_closed()
    await sms.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="heard's local mail catcher and SMS capture")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--mail-port", type=int, default=1025)
    parser.add_argument("--sms-port", type=int, default=8025)
    parser.add_argument(
        "--sms-faults",
        default="",
        metavar="429for10,503for5",
        help="answer the first SMS requests with these statuses (drills)",
    )
    args = parser.parse_args()
    os.umask(0o077)  # the captured messages hold personal data: this user's alone
    try:
        faults = parse_faults(args.sms_faults)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(serve(args.dir, args.mail_port, args.sms_port, faults))


if __name__ == "__main__":
    main()
