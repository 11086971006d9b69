"""A listener's bounds, through real sockets on 127.0.0.1: a request that takes too long is
answered 503 and frees its connection; a connection past max_connections is closed at
once; one whose headers never finish is closed at header_seconds."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from heard.streams.base.http import ListenerLimits, serve


def stuck_app() -> web.Application:
    """A route that waits on something that never comes (a paused broker, say)."""

    async def stuck(request: web.Request) -> web.Response:
        await asyncio.Event().wait()
        return web.Response(text="never")

    app = web.Application()
    app.router.add_post("/stuck", stuck)
    app.router.add_get("/fine", fine)
    return app


async def fine(request: web.Request) -> web.Response:
    return web.Response(text="fine")


async def test_a_request_past_request_seconds_gets_503_and_retry_after() -> None:
    listener = await serve(
        stuck_app(), "127.0.0.1", 0, ListenerLimits("t", header_seconds=30, request_seconds=0.3)
    )
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.post(f"http://127.0.0.1:{listener.port}/stuck") as answer,
        ):
            assert answer.status == 503 and answer.headers["Retry-After"] == "5"
    finally:
        await listener.cleanup()


async def test_past_max_connections_a_new_one_is_closed_and_a_freed_place_is_taken() -> None:
    listener = await serve(
        stuck_app(), "127.0.0.1", 0, ListenerLimits("t", header_seconds=30, max_connections=2)
    )
    held = [await asyncio.open_connection("127.0.0.1", listener.port) for _ in range(2)]
    try:
        for _, writer in held:
            writer.write(b"GET /fine HTTP/1.1\r\nHost: x\r\n")  # never finished
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 60) == b""  # closed, nothing answered
        writer.close()
        held[0][1].close()  # a place frees up

        async def served() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            writer.write(b"GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            return answer

        for _ in range(600):  # until the listener has seen the freed connection go
            answer = await served()
            if answer:
                break
            await asyncio.sleep(0.1)  # polls; bounded by the loop's count
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"fine")
    finally:
        for _, writer in held:
            writer.close()
        await listener.cleanup()


async def test_headers_not_finished_by_header_seconds_close_the_connection() -> None:
    listener = await serve(
        stuck_app(), "127.0.0.1", 0, ListenerLimits("t", header_seconds=0.5, max_connections=10)
    )
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"GET /fine HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        assert await asyncio.wait_for(reader.read(), 60) == b""
        writer.close()
    finally:
        await listener.cleanup()
