"""What the window and its monitor worker (`ibdesk monitor-worker`) say to each other:
the one definition both ends use (ui.monitor_process, cli.monitor_worker).

Protocol (JSON, one object per line; the window starts it, nobody else should):
    with --channel HOST:PORT, stdin's very first line is {"channel": "<one-time token>"}:
        the worker connects to that local socket, sends the token as its first line, and
        writes everything below to the socket instead of stdout. Packaged apps need it:
        Briefcase's Windows GUI stub sends stdout to a log file, and on macOS std-nslog
        replaces sys.stdout with the system log, so the window would never read a line.
        The socket is loopback only, and the window takes the one connection that
        presents the token before any secret is sent.
    stdin, first line:  {"token": "...", "ssh_key": "...", "alert_urls": "[...]"}
        The secrets the monitor needs (HANDED), read from the keyring by the window and
        handed over through this private pipe; held in this process's memory only.
    stdin, then:        {"id": N, "cmd": "refresh", "account_id": "..."}
                        {"id": N, "cmd": "cycle", "force": true}
                        {"cmd": "intervals", "steady": S, "error": S}
                        {"cmd": "secrets", "token": "...", "ssh_key": "...",
                         "alert_urls": "[...]"}
                        end of input: stop, close every connection, exit 0
    stdout:             {"type": "ready"}
                        {"type": "change", "event": {...}, "account": {...}}
                        {"type": "cycle", "updates": [{...}, ...]}  (≤ 100 per line)
                        {"type": "monitoring", "degraded": null | "why"}  (on change)
                        {"type": "done", "id": N, "error": null | "sentence"}
"""

from __future__ import annotations

from enum import StrEnum

from ibdesk.secrets import ALERT_URLS, DO_TOKEN, SSH_PRIVATE_KEY

HANDED = (("token", DO_TOKEN), ("ssh_key", SSH_PRIVATE_KEY), ("alert_urls", ALERT_URLS))
"""(field of the message, keyring entry) of each secret the window hands the worker: the
token and key to watch the servers, the alert URLs to tell the trader."""


class Command(StrEnum):
    """What the window asks (the `cmd` of a line on the worker's stdin)."""

    REFRESH = "refresh"
    CYCLE = "cycle"
    INTERVALS = "intervals"
    SECRETS = "secrets"


class Message(StrEnum):
    """What the worker says (the `type` of a line on its channel)."""

    READY = "ready"
    CHANGE = "change"
    CYCLE = "cycle"
    MONITORING = "monitoring"
    DONE = "done"


CYCLE_CHUNK = 100
"""At most this many updates per `cycle` line: a thousand accounts' results reach the
window as several short steps, never one long one."""


__all__ = ["CYCLE_CHUNK", "Command", "Message"]
