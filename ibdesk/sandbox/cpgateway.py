"""The sandbox's Client Portal gateway: what IBKR's Java gateway is to a real IBeam.

A real IBeam container starts the gateway with `bash bin/run.sh root/conf.yaml` from
`IBEAM_GATEWAY_DIR` and finds it by the process name
`ibgroup.web.core.clientportal.gw.GatewayStart`. In the sandbox, `bin/run.sh` starts this
file instead, with that name on its command line, under IBeam's own Python (it uses the
standard library only, so it runs in IBeam's virtual environment and not in ibdesk's).

It serves what IBeam and a trader's program use, over HTTPS with a self-signed
certificate on `listenPort` (5000):

* `/sso/Login` — the login page IBeam's Selenium flow drives with headless Chromium,
  written to IBeam 0.5.12's default selectors (website version 2): `name=username`,
  `name=password`, the submit button `.btn.btn-lg.xyz-button-login`, the paper toggle
  `label[for=toggle1]`, errors in `.xyz-errormessage`, the 2FA block `#twofactbase` with
  its input `#xyz-field-bronze-response`, and "Client login succeeds" once logged in.
* `/v1/api/tickle` and `/v1/api/iserver/auth/status` (401 without a session),
  `/v1/portal/sso/validate`, `/v1/api/logout`, `/v1/portal/iserver/reauthenticate`,
  `/v1/api/iserver/auth/ssodh/init`, and a few account endpoints for the trader's own
  programs; 10 requests a second, then 429, as IBKR limits a session.

Whether a username, password, paper mode or 2FA code is right, and what state the
session is in, is IBKR's to say: the sandbox plays IBKR behind a unix socket
(`--ibkr`), which holds the users (their passwords can be changed as on IBKR's site)
and the faults. Only the gateway's allow list (`ips.allow` in conf.yaml) is decided here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import socket
import ssl
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

PROCESS_NAME = "ibgroup.web.core.clientportal.gw.GatewayStart"

LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Client Portal Login</title>
<style>body{font-family:sans-serif;margin:40px} .hidden{display:none}
input,button{display:block;margin:8px 0;padding:6px;width:260px}</style></head>
<body><div class="login">
<h2>Interactive Brokers — Client Portal (sandbox)</h2>
<form id="loginform" autocomplete="off">
  <input type="checkbox" id="toggle1" name="paper" style="display:inline;width:auto">
  <label for="toggle1">Paper trading</label>
  <input type="text" name="username" placeholder="Username">
  <input type="password" name="password" placeholder="Password">
  <button type="submit" class="btn btn-lg xyz-button-login">Login</button>
</form>
<div class="xyz-errormessage hidden" role="alert"></div>
<div id="twofactbase" class="hidden">
  <p>Enter the code from your authenticator app.</p>
  <input type="text" id="xyz-field-bronze-response" autocomplete="off">
</div>
</div>
<script>
const form = document.getElementById('loginform');
const error = document.querySelector('.xyz-errormessage');
const twofa = document.getElementById('twofactbase');
const code = document.getElementById('xyz-field-bronze-response');
let challenge = null;
function showError(text) { error.textContent = text; error.classList.remove('hidden'); }
async function post(body) {
  const r = await fetch('/sso/Authenticator', {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  return r.json();
}
function outcome(answer) {
  if (answer.result === 'ok') { window.location = '/sso/Dispatcher'; return; }
  if (answer.result === '2fa') { challenge = answer.challenge;
    twofa.classList.remove('hidden'); code.focus(); return; }
  showError(answer.error || 'failed');
}
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.classList.add('hidden');
  outcome(await post({username: form.username.value, password: form.password.value,
                      paper: document.getElementById('toggle1').checked}));
});
code.addEventListener('keydown', async (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  error.classList.add('hidden');
  outcome(await post({challenge: challenge, code: code.value}));
});
</script></body></html>
"""

SUCCESS_PAGE = """<!DOCTYPE html><html><head><title>Client Portal</title></head>
<body><pre>Client login succeeds</pre></body></html>"""


class IBKR:
    """IBKR's servers, as the sandbox plays them behind a unix socket."""

    def __init__(self, path: str, gateway: str) -> None:
        self.path = path
        self.gateway = gateway

    def ask(self, method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        conn = http.client.HTTPConnection("ibkr")
        conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.sock.settimeout(10)
        try:
            conn.sock.connect(self.path)
            data = json.dumps({**(body or {}), "gateway": self.gateway}).encode()
            conn.request(method, url, body=data, headers={"Content-Type": "application/json"})
            answer: dict[str, Any] = json.loads(conn.getresponse().read() or b"{}")
            return answer
        except OSError:
            return {"result": "error", "error": "IBKR's servers did not answer.",
                    "session": None}
        finally:
            conn.close()


def read_conf(path: str) -> dict[str, Any]:
    """The two keys of conf.yaml this gateway uses, `listenPort` and `ips: allow:` (read as
    a YAML subset, so that no YAML library is needed under IBeam's Python)."""
    conf: dict[str, Any] = {"listenPort": 5000, "allow": []}
    section, subsection = "", ""
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            indented = line.startswith(" ")
            text = line.strip()
            if not indented:
                section, _, value = (part.strip() for part in text.partition(":"))
                subsection = ""
                if section == "listenPort":
                    conf["listenPort"] = int(value)
            elif text.endswith(":"):
                subsection = text[:-1]
            elif text.startswith("- ") and (section, subsection) == ("ips", "allow"):
                conf["allow"].append(text[2:].strip().strip('"'))
    return conf


def allowed(address: str, patterns: list[str]) -> bool:
    """The gateway's allow list: `10.*`, `172.17.0.*`, `127.0.0.1` style patterns."""
    for pattern in patterns:
        regex = "^" + re.escape(pattern).replace(r"\*", r"[0-9.]+") + "$"
        if re.match(regex, address):
            return True
    return False


class Gateway:
    """The gateway's state: the session it holds for whoever calls it."""

    def __init__(self, ibkr: IBKR, allow: list[str]) -> None:
        self.ibkr = ibkr
        self.allow = allow
        self.hits: deque[float] = deque()
        self.lock = threading.Lock()

    def limited(self) -> bool:
        with self.lock:
            now = time.monotonic()
            while self.hits and self.hits[0] <= now - 1:
                self.hits.popleft()
            if len(self.hits) >= 10:
                return True
            self.hits.append(now)
            return False

    def session(self) -> dict[str, Any] | None:
        answer = self.ibkr.ask("POST", "/session")
        session = answer.get("session")
        return session if isinstance(session, dict) else None


def make_handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sandbox-clientportal.gw"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # the real gateway logs little to the container's output

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data, separators=(",", ":")).encode(),
                       "application/json;charset=utf-8")

        def _html(self, status: int, text: str) -> None:
            self._send(status, text.encode(), "text/html;charset=utf-8")

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            try:
                data = json.loads(self.rfile.read(length))
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}

        def do_GET(self) -> None:  # noqa: N802
            self._route()

        def do_POST(self) -> None:  # noqa: N802
            self._route()

        def _route(self) -> None:
            if not allowed(self.client_address[0], gateway.allow):
                self._html(403, "Access Denied")
                return
            path = urlsplit(self.path).path
            if path == "/":
                self._html(200, '<a href="/sso/Login?forwardTo=22&RL=1&ip2loc=on">Login</a>')
            elif path == "/sso/Login":
                self._html(200, LOGIN_PAGE)
            elif path == "/sso/Authenticator" and self.command == "POST":
                self._json(200, gateway.ibkr.ask("POST", "/login", self._body()))
            elif path == "/sso/Dispatcher":
                self._html(200, SUCCESS_PAGE)
            elif path.startswith("/v1/"):
                self._api(path)
            else:
                self._html(404, "Not Found")

        def _api(self, path: str) -> None:
            if gateway.limited():
                self._json(429, {"error": "Too Many Requests"})
                return
            if path == "/v1/api/logout":
                gateway.ibkr.ask("POST", "/logout")
                self._json(200, {"status": True})
                return
            session = gateway.session()
            if session is None:
                self._json(401, {"error": "no session"})
                return
            status = {k: session[k] for k in ("authenticated", "competing", "connected",
                                              "message", "MAC", "serverInfo")}
            if path == "/v1/api/tickle":
                self._json(200, {"session": session["id"], "ssoExpires": session["expires_ms"],
                                 "collission": False, "userId": session["user_id"],
                                 "hmds": {"error": "no bridge"},
                                 "iserver": {"authStatus": status}})
            elif path == "/v1/api/iserver/auth/status":
                self._json(200, {**status, "fail": ""})
            elif path == "/v1/portal/sso/validate":
                self._json(200, {"RESULT": True, "USER_NAME": session["username"],
                                 "USER_ID": session["user_id"], "expire": session["expires_ms"],
                                 "AUTH_TIME": session["since_ms"], "IS_FREE_TRIAL": False})
            elif path in ("/v1/portal/iserver/reauthenticate",
                          "/v1/api/iserver/reauthenticate"):
                gateway.ibkr.ask("POST", "/reauthenticate")
                self._json(200, {"message": "triggered"})
            elif path == "/v1/api/iserver/auth/ssodh/init":
                self._json(200, {"authenticated": status["authenticated"],
                                 "connected": status["connected"],
                                 "competing": status["competing"]})
            elif not status["authenticated"]:
                self._json(401, {"error": "not authenticated"})
            elif path == "/v1/api/iserver/accounts":
                self._json(200, {"accounts": [session["account"]],
                                 "selectedAccount": session["account"],
                                 "isPaper": session["paper"]})
            elif path == "/v1/api/portfolio/accounts":
                self._json(200, [{"id": session["account"], "accountId": session["account"],
                                  "type": "DEMO" if session["paper"] else "INDIVIDUAL",
                                  "currency": "USD"}])
            else:
                self._json(404, {"error": f"{path} is not served by the sandbox gateway"})

    return Handler


class TLSServer(ThreadingHTTPServer):
    """One thread per connection, each wrapped in TLS in its own thread (a slow
    handshake never holds the others up)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("process", nargs="?", default=PROCESS_NAME)
    parser.add_argument("--conf", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ibkr", required=True, help="IBKR's unix socket")
    parser.add_argument("--gateway", required=True, help="this gateway's id at IBKR")
    args = parser.parse_args(argv)
    conf = read_conf(args.conf)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    gateway = Gateway(IBKR(args.ibkr, args.gateway), conf["allow"])
    # IPv4 only, as IBKR's gateway runs (run.sh: -Djava.net.preferIPv4Stack=true): a
    # browser asking for localhost falls back from ::1 to 127.0.0.1.
    server = TLSServer(("0.0.0.0", conf["listenPort"]), make_handler(gateway), context)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"Server listening on port {conf['listenPort']} (sandbox Client Portal gateway)",
          flush=True)
    print(f"Open https://localhost:{conf['listenPort']} to login", flush=True)
    server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
