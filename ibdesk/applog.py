"""ibdesk's own log: a rotating file in the data folder, with secrets taken out.

Every record passes through `RedactingFormatter`, which masks each value the keyring
handed to this process (`ibdesk.secret_values.known_values`) and anything shaped like a
credential, after the message and any traceback are formatted, so that an exception
text cannot slip a secret past it. The file is written by a listener thread behind a
queue: a log call on the Qt thread never waits on the disk.
"""

from __future__ import annotations

import atexit
import io
import logging
import logging.handlers
import queue
import sys
from pathlib import Path

from ibdesk.domain.redaction import redact
from ibdesk.private_files import create_private
from ibdesk.secret_values import known_values

LOG_DIR = "logs"
LOG_FILE = "ibdesk.log"
MAX_BYTES = 1_000_000
BACKUPS = 4
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_listener: logging.handlers.QueueListener | None = None
_installed: Path | None = None


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), known_values())


def log_path(home: Path) -> Path:
    return home / LOG_DIR / LOG_FILE


class _PrivateFileHandler(logging.handlers.RotatingFileHandler):
    """Each log file (a rotation makes a new one) is created 0600."""

    def _open(self) -> io.TextIOWrapper:
        create_private(Path(self.baseFilename))
        return super()._open()


CHATTY = ("asyncssh", "httpx", "httpcore")
"""Libraries that log every connection, channel and request at INFO: with a thousand
accounts they filled the app log (and rotated ibdesk's own lines out of it) within
minutes. Their warnings and errors still come through."""


def quiet_libraries() -> None:
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def install(home: Path, *, level: int = logging.INFO, console_level: int | None = None) -> Path:
    """Send ibdesk's log records to `<home>/logs/ibdesk.log` (rotated at 1 MB, 4 old files
    kept) and, when `console_level` is set, to stderr; both redacted. A second call for
    the same folder does nothing."""
    global _listener, _installed
    path = log_path(home)
    if _installed == path:
        return path
    uninstall()
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet_libraries()
    file_handler = _PrivateFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    file_handler.setFormatter(RedactingFormatter(FORMAT))
    file_handler.setLevel(level)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, file_handler,
                                               respect_handler_level=True)
    _listener.start()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ibdesk", False):
            root.removeHandler(handler)
    queued = logging.handlers.QueueHandler(records)
    queued._ibdesk = True  # type: ignore[attr-defined]
    root.addHandler(queued)
    if console_level is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
        console.setLevel(console_level)
        console._ibdesk = True  # type: ignore[attr-defined]
        root.addHandler(console)
    logging.getLogger("ibdesk").setLevel(min(level, console_level or level))
    root.setLevel(min(root.level or logging.WARNING, logging.WARNING))
    _installed = path
    atexit.register(uninstall)
    return path


def uninstall() -> None:
    """Flush and detach (at exit, and between tests)."""
    global _listener, _installed
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ibdesk", False):
            root.removeHandler(handler)
    if _listener is not None:
        _listener.stop()
        for handler in _listener.handlers:
            handler.close()
        _listener = None
    _installed = None


__all__ = ["RedactingFormatter", "install", "log_path", "quiet_libraries", "uninstall"]
