"""Posting notes to a help desk: its own retries on 429 (waiting its `Retry-After`) and 5xx,
a bounded wait, and one error that says why when it still cannot be written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from heard.channels.base import retry_after_seconds
from heard.streams.delivery.helpdesk import HelpDesk

# The longest one wait between attempts: a help desk asking for more is asked again later
# (the note's records are dead letters, replayable), never for the worker's whole patience.
MAX_WAIT_SECONDS = 60.0


class NoteNotWritten(Exception):
    """The help desk did not take the note; the message says what it answered."""


class NoteWriter:
    def __init__(
        self,
        desk: HelpDesk,
        base_url: str,
        user: str | None,
        token: str,
        *,
        attempts: int = 4,
        timeout_seconds: float = 15.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.desk = desk
        self.base_url = base_url
        self.user = user
        self.headers = desk.login(user, token)
        self.attempts = attempts
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def post(self, ticket_id: str, body: str) -> None:
        request = self.desk.note(self.base_url, ticket_id, body, self.user)
        for attempt in range(1, self.attempts + 1):
            wait, reason = await self._attempt(request.method, request.url, request.json)
            if wait is None:
                return
            if attempt == self.attempts:
                raise NoteNotWritten(f"{self.desk.name} did not take the note on {ticket_id}: {reason}")
            await self.sleep(min(wait, MAX_WAIT_SECONDS))

    async def _attempt(self, method: str, url: str, body: object) -> tuple[float | None, str]:
        """(None, "") when written; else how long to wait before the next try, and why."""
        backoff = 1.0
        try:
            async with self._client().request(method, url, json=body, headers=self.headers) as answer:
                if answer.status < 300:
                    return None, ""
                said = f"{answer.status} {(await answer.text())[:200]}".strip()
                if answer.status == 429 or answer.status >= 500:
                    return retry_after_seconds(answer.headers.get("Retry-After")) or backoff, said
        except (aiohttp.ClientError, TimeoutError) as exc:
            return backoff, f"{type(exc).__name__}: {exc}"
        # Any other refusal (a wrong token, a ticket that does not exist) will not change.
        raise NoteNotWritten(f"{self.desk.name} refused the note: {said}")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
