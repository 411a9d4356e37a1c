"""A JSON webhook receiver on loopback (in a thread, so that both `asyncio.run` commands
and a test's own loop can post to it): what alert tests deliver to."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SECRET_PATH = "T0ken5ecretPath"
"""A path segment alert URLs carry: a secret, which must appear nowhere but the keyring."""


@contextmanager
def webhook_receiver() -> Iterator[tuple[list[dict[str, object]], int]]:
    """(what was posted, the port), until the block ends."""
    received: list[dict[str, object]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
