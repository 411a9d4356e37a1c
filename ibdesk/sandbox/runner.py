"""Running the sandbox: in the foreground (`ibdesk sandbox serve`) or on a thread of its
own beside the app (`ibdesk --sandbox`), so that it never shares the app's event loop
and a slow simulated droplet can never stall the window."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TextIO, TypeVar

from ibdesk.sandbox.server import Sandbox, SandboxOptions

T = TypeVar("T")


class SandboxThread:
    """`with SandboxThread(options) as sandbox:` — started, and stopped (state saved) on exit."""

    def __init__(self, options: SandboxOptions) -> None:
        self.sandbox = Sandbox(options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="ibdesk-sandbox", daemon=True)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.sandbox.start()
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.sandbox.stop()

    def start(self) -> Sandbox:
        self._thread.start()
        self._ready.wait(timeout=60)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("the sandbox did not start within 60 seconds")
        return self.sandbox

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)

    def call(self, coro_factory: Callable[[Sandbox], Coroutine[Any, Any, T]],
             timeout: float = 30.0) -> T:
        """Run `coro_factory(sandbox)` on the sandbox's loop and return its result."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro_factory(self.sandbox), self._loop)
        return future.result(timeout)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(sandbox: Sandbox) -> dict[str, object]:
    """What scripts read from `ibdesk sandbox serve --json` (its first line)."""
    return {"api_url": sandbox.api_url, "token": sandbox.token,
            "ssh_map_url": sandbox.ssh_map_url, "public_ip_url": sandbox.public_ip_url,
            "ibkr_users": [u.username for u in sandbox.users.users]}


async def serve(options: SandboxOptions, *, as_json: bool, out: TextIO | None = None) -> None:
    """Run until interrupted (Ctrl+C / SIGTERM), saving state on the way out."""
    out = out or sys.stdout
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Sandbox(options) as sandbox:
        info = describe(sandbox)
        if as_json:
            print(json.dumps(info), file=out, flush=True)
        else:
            demo = sandbox.users.users[0]
            lines = [
                "ibdesk sandbox: a simulated DigitalOcean and IBeam on this machine",
                f"  API URL     {sandbox.api_url}",
                f"  token       {sandbox.token}",
                f"  IBKR login  {demo.username} / {demo.password}"
                + ("  (from the users file)" if options.ibkr_users else "  (demo user)"),
                f"  droplets    boot in {options.boot_seconds:g} s, limit "
                f"{options.droplet_limit}" + (f", state in {options.state}"
                                              if options.state else ""),
                "",
                "Point ibdesk at it with:",
                f"  export IBDESK_DO_API_URL={sandbox.api_url}",
                f"  export IBDESK_SANDBOX_SSH_MAP_URL={sandbox.ssh_map_url}",
                f"  export IBDESK_PUBLIC_IP_URL={sandbox.public_ip_url}",
                "Press Ctrl+C to stop.",
            ]
            print("\n".join(lines), file=out, flush=True)
        await stop.wait()


__all__ = ["SandboxThread", "describe", "serve"]
