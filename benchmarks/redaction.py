"""What the log filter costs a line with many secrets known (1,000 accounts: a password,
a TOTP secret each), the values sorted on every line (as before issue 18) beside the
order made once per change (`secret_values.known_values`), in the same run.

    .venv/bin/python benchmarks/redaction.py [SECRETS] [LINES]
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> int:
    from ibdesk.domain.redaction import redact
    from ibdesk.secret_values import known_values, remember

    count = int(argv[0]) if argv else 2000
    lines = int(argv[1]) if len(argv) > 1 else 2000
    for _ in range(count):
        remember(secrets.token_urlsafe(12))
    line = ("ibdesk.services.watch.monitor: ib-paper-1a2b3c4d running: the gateway is logged "
            "in to IBKR (12.3 ms)")
    plain = set(known_values())  # a set: redact sorts it on every call
    started = time.perf_counter()
    for _ in range(lines):
        redact(line, plain)
    before = (time.perf_counter() - started) / lines * 1e6
    started = time.perf_counter()
    for _ in range(lines):
        redact(line, known_values())
    after = (time.perf_counter() - started) / lines * 1e6
    print(f"{count} secrets known: sorted every line {before:.0f} µs/line | "
          f"ordered once {after:.0f} µs/line")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
