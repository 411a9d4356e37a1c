"""One TLS context for everything that travels inside SSH.

The gateway's certificate is IBKR's self-signed one and the connection already runs
inside an SSH channel whose host key is pinned, so it is not what protects the traffic.
Sharing one context matters at scale: httpx builds (and loads a CA bundle into) a new
context for every client otherwise, which cost a thousand-account monitor a gigabyte of
memory and a minute of CPU on its first cycle.
"""

from __future__ import annotations

import ssl

# No CA bundle is loaded (nothing is verified against one), which also keeps importing
# this module cheap: loading the system's certificates takes 100-200 ms.
INSIDE_SSH = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
INSIDE_SSH.check_hostname = False
INSIDE_SSH.verify_mode = ssl.CERT_NONE

__all__ = ["INSIDE_SSH"]
