"""The round trip the sandbox can put in front of a droplet (`--droplet-rtt-ms`)."""

from __future__ import annotations

import asyncio
import time

from ibdesk.sandbox.netdelay import DelayedPort


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        if data.endswith(b"bye"):
            writer.write(data)
            await writer.drain()
            writer.close()
            return
        writer.write(data)
        await writer.drain()


async def test_every_exchange_costs_the_round_trip_and_bytes_keep_their_order() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    distance = DelayedPort(server.sockets[0].getsockname()[1], rtt=0.2)
    port = await distance.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):
            started = time.perf_counter()
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            assert time.perf_counter() - started >= 0.2  # half each way
        sent = b"".join(b"%05d" % i for i in range(2000))
        for i in range(0, len(sent), 100):  # many small chunks in flight at once
            writer.write(sent[i:i + 100])
        assert await reader.readexactly(len(sent)) == sent
        writer.write(b"bye")
        assert await reader.readexactly(3) == b"bye"
        assert await asyncio.wait_for(reader.read(), 2) == b""  # the far side's close arrives
        writer.close()
    finally:
        await distance.close()
        server.close()


async def test_a_sandbox_droplet_behind_a_round_trip_still_works() -> None:
    """SSH, SFTP and the probe through `droplet_rtt_ms`; the probe's latency shows it."""
    from ibdesk.sandbox import Sandbox
    from tests.helpers.sandbox import fast_options, logged_in_probe

    async with Sandbox(fast_options(droplet_rtt_ms=50)) as sandbox, \
            logged_in_probe(sandbox) as prober:
        health = await prober.probe()
    assert health.authenticated
    assert health.latency_ms is not None and health.latency_ms >= 2 * 50  # open + request
