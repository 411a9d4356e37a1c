"""An async DigitalOcean API v2 client on one `httpx.AsyncClient`.

Why it is more than a thin wrapper:

* Rate limits. DigitalOcean allows 5,000 requests an hour per token and says how many
  remain in `ratelimit-*` headers. The client remembers them and, when few remain,
  spreads its requests over the time left instead of running into a 429; on a 429 it
  waits as told (bounded) and tries again, which is safe for any method because a 429'd
  request was not carried out.
* Retries. Timeouts, dropped connections and 5xx are retried with jittered back-off,
  but only for idempotent calls (GET/PUT/DELETE) or when the request provably never
  left (connect errors). A create is never blindly repeated: whether it happened is
  found out by its request tag (services.reconciler).
* Errors. Every failure becomes one of ibdesk's typed errors, carrying DigitalOcean's
  `id`, `message` and `request_id` plus a sentence a trader understands.
* The token is kept in an `httpx.Auth` whose repr hides it; it never reaches a log line,
  a repr or an error text.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from ibdesk.cloud.models import (
    Action,
    APIErrorBody,
    DOAccount,
    Droplet,
    DropletActionType,
    DropletCreate,
    DropletSummary,
    Firewall,
    FirewallSpec,
    Image,
    InboundRule,
    Region,
    Size,
    SSHKey,
    Tag,
)
from ibdesk.domain.backoff import Backoff
from ibdesk.domain.errors import (
    CloudAuthError,
    CloudError,
    CloudUnavailable,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    RateLimited,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.digitalocean.com"
PER_PAGE = 200
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
M = TypeVar("M", bound=BaseModel)


Transport = httpx.AsyncBaseTransport
"""What carries the client's requests (tests and the sandbox give their own)."""

class _BearerAuth(httpx.Auth):
    """Adds the token to each request; its repr never shows it."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "<BearerAuth token=***>"


@dataclass
class RateLimitState:
    """The last `ratelimit-*` headers seen (hourly quota)."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # Unix time the oldest counted request expires

    def update(self, headers: Mapping[str, str]) -> None:
        def _num(name: str) -> float | None:
            try:
                return float(headers[name])
            except (KeyError, ValueError):
                return None

        limit, remaining, reset = (_num("ratelimit-limit"), _num("ratelimit-remaining"),
                                   _num("ratelimit-reset"))
        if limit is not None:
            self.limit = int(limit)
        if remaining is not None:
            self.remaining = int(remaining)
        if reset is not None:
            self.reset = reset


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    """Tries in all, for calls that may be retried."""
    backoff: float = 0.5
    backoff_cap: float = 8.0
    max_rate_limit_wait: float = 60.0
    """A 429 or an empty quota that would make us wait longer than this is raised."""
    low_water: int = 25
    """Below this many remaining requests the client spreads out its calls."""


class DigitalOceanClient:
    """One token, one connection pool. Use as `async with DigitalOceanClient(token) as do:`."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token or not token.strip():
            raise CloudAuthError(
                "No DigitalOcean API token is set. Add one with `ibdesk token set`.")
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.rate_limit = RateLimitState()
        self.requests_sent = 0
        self.rate_limited_seen = 0
        self.answers: collections.Counter[str] = collections.Counter()
        """Requests by what DigitalOcean answered: its status code, or "none" (no answer:
        the connection failed)."""
        """429 answers met (the monitor reports and resets it)."""
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=_BearerAuth(token.strip()),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "ibdesk"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"DigitalOceanClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> DigitalOceanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ transport core
    async def _pace(self) -> None:
        """Spread requests out when the hourly quota runs low; wait when it is empty."""
        rl = self.rate_limit
        if rl.remaining is None or rl.reset is None or rl.remaining >= self.retry.low_water:
            return
        window = max(0.0, rl.reset - self._clock())
        if window <= 0:
            return
        delay = window if rl.remaining <= 0 else window / (rl.remaining + 1)
        if delay > self.retry.max_rate_limit_wait:
            raise RateLimited(
                "DigitalOcean's hourly request limit for this token is used up; it frees "
                f"up in about {max(1, round(window / 60))} minutes.",
                retry_after=window)
        log.info("pacing DigitalOcean requests: %d left, waiting %.1f s", rl.remaining, delay)
        await self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry.backoff_cap, self.retry.backoff * (2 ** attempt))
        return random.uniform(ceiling / 2, ceiling)

    def _relative(self, url: str) -> str:
        """DigitalOcean's `links` are absolute; keep talking to our own base URL."""
        if url.startswith(("http://", "https://")):
            parts = urlsplit(url)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return url

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        what: str | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
    ) -> httpx.Response:
        method = method.upper()
        retryable = method in _IDEMPOTENT
        attempt = 0
        url = self._relative(url)
        while True:
            await self._pace()
            started = time.perf_counter()
            try:
                self.requests_sent += 1
                response = await self._http.request(method, url, params=params, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                self.answers["none"] += 1
                # Never reached DigitalOcean: safe to try again whatever the method.
                if attempt + 1 < self.retry.attempts:
                    await self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise CloudUnavailable(
                    f"DigitalOcean could not be reached ({type(exc).__name__}). Check the "
                    "internet connection and try again.", path=url) from None
            except httpx.TransportError as exc:
                self.answers["none"] += 1
                if retryable and attempt + 1 < self.retry.attempts:
                    await self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise CloudUnavailable(
                    f"The connection to DigitalOcean failed during the request "
                    f"({type(exc).__name__})."
                    + ("" if retryable else " It may or may not have been carried out; ibdesk "
                       "checks before doing it again."), path=url) from None
            elapsed = (time.perf_counter() - started) * 1000
            self.answers[str(response.status_code)] += 1
            self.rate_limit.update(response.headers)
            log.debug("DigitalOcean %s %s -> %d (%.0f ms)", method, url, response.status_code,
                      elapsed)
            if response.status_code in ok:
                return response
            if response.status_code == 429:
                self.rate_limited_seen += 1
                wait = self._retry_after(response, attempt)
                if wait <= self.retry.max_rate_limit_wait and attempt + 1 < self.retry.attempts:
                    log.warning("DigitalOcean answered 429; waiting %.1f s", wait)
                    await self._sleep(wait)
                    attempt += 1
                    continue
                raise self._error(response, what, retry_after=wait)
            if response.status_code >= 500 and retryable and attempt + 1 < self.retry.attempts:
                await self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            raise self._error(response, what)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        """How long a 429 asks us to wait.

        DigitalOcean's headers describe the hourly quota. A 429 with hourly requests
        left comes from the per-minute limit (250/min), whose window frees up within
        seconds: back off briefly. Only an empty hourly quota means waiting for
        `ratelimit-reset`.
        """
        header = response.headers.get("retry-after")
        if header:
            try:
                return max(0.0, float(header))
            except ValueError:
                pass
        rl = self.rate_limit
        if rl.remaining == 0 and rl.reset is not None:
            return max(0.0, rl.reset - self._clock())
        return min(60.0, 2 * self._backoff(attempt + 1))

    def _error(self, response: httpx.Response, what: str | None,
               retry_after: float | None = None) -> CloudError:
        body: APIErrorBody | None
        try:
            body = APIErrorBody.model_validate(response.json())
        except (ValueError, ValidationError):
            body = None
        fields: dict[str, Any] = {
            "status_code": response.status_code,
            "error_id": body.id if body else None,
            "api_message": body.message if body else None,
            "request_id": (body.request_id if body else None)
            or response.headers.get("x-request-id"),
        }
        return classify_error(response.status_code, what, retry_after=retry_after, **fields)

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._request(method, url, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise CloudError("DigitalOcean sent an answer ibdesk could not read.",
                             status_code=response.status_code) from None
        if not isinstance(data, dict):
            raise CloudError("DigitalOcean sent an answer ibdesk could not read.",
                             status_code=response.status_code)
        return data

    @staticmethod
    def _parse(model: type[M], data: Any, key: str) -> M:
        try:
            return model.model_validate(data[key])
        except (KeyError, TypeError, ValidationError) as exc:
            raise CloudError(
                f"DigitalOcean's answer had no valid `{key}` ({type(exc).__name__}).") from None

    async def _paged(self, url: str, key: str, model: type[M],
                     params: Mapping[str, Any] | None = None) -> AsyncIterator[M]:
        query: dict[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        seen: set[str] = set()
        next_url: str | None = url
        while next_url:
            data = await self._json("GET", next_url, params=query, what=key)
            for item in data.get(key) or []:
                try:
                    yield model.model_validate(item)
                except ValidationError:
                    raise CloudError(
                        f"DigitalOcean sent a {key} entry ibdesk could not read.") from None
            pages = (data.get("links") or {}).get("pages") or {}
            candidate = pages.get("next")
            next_url = self._relative(candidate) if candidate else None
            if next_url is not None:
                if next_url in seen:
                    break
                seen.add(next_url)
                query = None  # the next link carries its own query (httpx would replace it)

    async def _list(self, url: str, key: str, model: type[M],
                    params: Mapping[str, Any] | None = None) -> list[M]:
        return [item async for item in self._paged(url, key, model, params)]

    # ------------------------------------------------------------------ account
    async def get_account(self) -> DOAccount:
        return self._parse(DOAccount, await self._json("GET", "/v2/account", what="account"),
                           "account")

    # ------------------------------------------------------------------ catalogue
    async def list_sizes(self) -> list[Size]:
        return await self._list("/v2/sizes", "sizes", Size)

    async def list_regions(self) -> list[Region]:
        return await self._list("/v2/regions", "regions", Region)

    async def get_image(self, image: str | int) -> Image:
        data = await self._json("GET", f"/v2/images/{image}", what=f"image {image}")
        return self._parse(Image, data, "image")

    # ------------------------------------------------------------------ SSH keys
    async def list_ssh_keys(self) -> list[SSHKey]:
        return await self._list("/v2/account/keys", "ssh_keys", SSHKey)

    async def get_ssh_key(self, key: int | str) -> SSHKey:
        data = await self._json("GET", f"/v2/account/keys/{key}", what=f"SSH key {key}")
        return self._parse(SSHKey, data, "ssh_key")

    async def create_ssh_key(self, name: str, public_key: str) -> SSHKey:
        data = await self._json("POST", "/v2/account/keys",
                                json={"name": name, "public_key": public_key}, what="SSH key")
        return self._parse(SSHKey, data, "ssh_key")

    async def delete_ssh_key(self, key: int | str) -> None:
        await self._request("DELETE", f"/v2/account/keys/{key}", what=f"SSH key {key}")

    # ------------------------------------------------------------------ tags
    async def create_tag(self, name: str) -> Tag:
        data = await self._json("POST", "/v2/tags", json={"name": name}, what=f"tag {name}")
        return self._parse(Tag, data, "tag")

    async def delete_tag(self, name: str) -> None:
        await self._request("DELETE", f"/v2/tags/{name}", what=f"tag {name}")

    # ------------------------------------------------------------------ droplets
    async def create_droplet(self, spec: DropletCreate) -> tuple[Droplet, list[int]]:
        """The new droplet and the ids of its create actions. Never retried on its own."""
        data = await self._json("POST", "/v2/droplets",
                                json=spec.model_dump(exclude_none=True), what="droplet")
        droplet = self._parse(Droplet, data, "droplet")
        actions = [a["id"] for a in (data.get("links") or {}).get("actions") or []
                   if isinstance(a, dict) and "id" in a]
        return droplet, actions

    async def get_droplet(self, droplet_id: int) -> Droplet:
        data = await self._json("GET", f"/v2/droplets/{droplet_id}",
                                what=f"droplet {droplet_id}")
        return self._parse(Droplet, data, "droplet")

    def _droplet_pages(self, model: type[M], tag_name: str | None,
                       name: str | None) -> AsyncIterator[M]:
        params = {k: v for k, v in {"tag_name": tag_name, "name": name}.items() if v}
        return self._paged("/v2/droplets", "droplets", model, params)

    def iter_droplets(self, *, tag_name: str | None = None,
                      name: str | None = None) -> AsyncIterator[Droplet]:
        return self._droplet_pages(Droplet, tag_name, name)

    async def list_droplets(self, *, tag_name: str | None = None,
                            name: str | None = None) -> list[Droplet]:
        return [d async for d in self.iter_droplets(tag_name=tag_name, name=name)]

    async def list_droplet_summaries(self, *, tag_name: str) -> list[DropletSummary]:
        """The same list call as `list_droplets`, each droplet read only as far as the
        monitor needs (status, address, tags)."""
        return [d async for d in self._droplet_pages(DropletSummary, tag_name, None)]

    async def delete_droplet(self, droplet_id: int) -> None:
        await self._request("DELETE", f"/v2/droplets/{droplet_id}", what=f"droplet {droplet_id}")

    async def delete_droplets_by_tag(self, tag_name: str) -> None:
        await self._request("DELETE", "/v2/droplets", params={"tag_name": tag_name},
                            what=f"droplets tagged {tag_name}")

    # ------------------------------------------------------------------ actions
    async def droplet_action(self, droplet_id: int, action: DropletActionType,
                             **extra: Any) -> Action:
        data = await self._json("POST", f"/v2/droplets/{droplet_id}/actions",
                                json={"type": action, **extra}, what=f"droplet {droplet_id}")
        return self._parse(Action, data, "action")

    async def get_action(self, action_id: int) -> Action:
        data = await self._json("GET", f"/v2/actions/{action_id}", what=f"action {action_id}")
        return self._parse(Action, data, "action")

    async def wait_for_action(
        self,
        action_id: int,
        *,
        timeout: float = 600.0,
        poll: float = 1.0,
        poll_cap: float = 10.0,
        on_poll: Callable[[Action], None] | None = None,
    ) -> Action:
        """Follow an action to `completed`; `errored` or the timeout raise CloudError."""
        deadline = self._clock() + timeout
        waits = Backoff(poll, max(poll, poll_cap))
        while True:
            action = await self.get_action(action_id)
            if on_poll is not None:
                on_poll(action)
            if action.status == "completed":
                return action
            if action.status == "errored":
                raise CloudError(
                    f"DigitalOcean reported that the {action.type.replace('_', ' ')} action "
                    "failed.", action_id=action_id, resource_id=action.resource_id)
            delay = next(waits)
            if self._clock() + delay > deadline:
                raise CloudError(
                    f"The {action.type.replace('_', ' ')} action is still running after "
                    f"{round(timeout)} seconds; ibdesk keeps watching it.", action_id=action_id)
            await self._sleep(delay)

    # ------------------------------------------------------------------ firewalls
    async def create_firewall(self, spec: FirewallSpec) -> Firewall:
        data = await self._json("POST", "/v2/firewalls", json=spec.model_dump(exclude_none=True),
                                what="firewall")
        return self._parse(Firewall, data, "firewall")

    async def get_firewall(self, firewall_id: str) -> Firewall:
        data = await self._json("GET", f"/v2/firewalls/{firewall_id}",
                                what=f"firewall {firewall_id}")
        return self._parse(Firewall, data, "firewall")

    async def list_firewalls(self) -> list[Firewall]:
        return await self._list("/v2/firewalls", "firewalls", Firewall)

    async def update_firewall(self, firewall_id: str, spec: FirewallSpec) -> Firewall:
        data = await self._json("PUT", f"/v2/firewalls/{firewall_id}",
                                json=spec.model_dump(exclude_none=True),
                                what=f"firewall {firewall_id}")
        return self._parse(Firewall, data, "firewall")

    async def add_firewall_rules(self, firewall_id: str, inbound: list[InboundRule]) -> None:
        """Add inbound rules, leaving every other rule, tag and droplet as it is (a PUT
        replaces the whole firewall, and with it whatever someone else added)."""
        await self._request("POST", f"/v2/firewalls/{firewall_id}/rules",
                            json={"inbound_rules": [r.model_dump(exclude_none=True)
                                                    for r in inbound]},
                            what=f"firewall {firewall_id}")

    async def remove_firewall_rules(self, firewall_id: str, inbound: list[InboundRule]) -> None:
        await self._request("DELETE", f"/v2/firewalls/{firewall_id}/rules",
                            json={"inbound_rules": [r.model_dump(exclude_none=True)
                                                    for r in inbound]},
                            what=f"firewall {firewall_id}")

    async def add_firewall_tags(self, firewall_id: str, tags: list[str]) -> None:
        await self._request("POST", f"/v2/firewalls/{firewall_id}/tags", json={"tags": tags},
                            what=f"firewall {firewall_id}")

    async def add_firewall_droplets(self, firewall_id: str, droplet_ids: list[int]) -> None:
        await self._request("POST", f"/v2/firewalls/{firewall_id}/droplets",
                            json={"droplet_ids": droplet_ids}, what=f"firewall {firewall_id}")

    async def remove_firewall_droplets(self, firewall_id: str, droplet_ids: list[int]) -> None:
        await self._request("DELETE", f"/v2/firewalls/{firewall_id}/droplets",
                            json={"droplet_ids": droplet_ids}, what=f"firewall {firewall_id}")

    async def remove_firewall_tags(self, firewall_id: str, tags: list[str]) -> None:
        await self._request("DELETE", f"/v2/firewalls/{firewall_id}/tags", json={"tags": tags},
                            what=f"firewall {firewall_id}")

    async def delete_firewall(self, firewall_id: str) -> None:
        await self._request("DELETE", f"/v2/firewalls/{firewall_id}",
                            what=f"firewall {firewall_id}")


def classify_error(status: int, what: str | None, *, retry_after: float | None = None,
                   **fields: Any) -> CloudError:
    """DigitalOcean's status code and message → ibdesk's typed error with plain words.

    `fields` are the CloudError fields (status_code, error_id, api_message, request_id).
    """
    api_message = fields.get("api_message") or ""
    text = api_message.lower()
    said = f" DigitalOcean said: {api_message}" if api_message else ""
    if status == 401:
        return CloudAuthError(
            "DigitalOcean does not accept this API token: it is wrong, expired or revoked. "
            "Create a new token (API → Tokens) and set it with `ibdesk token set`.", **fields)
    if status == 403:
        return CloudAuthError(
            "The API token is valid but lacks a permission ibdesk needs. Create a token with "
            "read and write scope (or custom scopes for droplet, ssh_key, firewall, tag, "
            "image, region, size, actions and account)." + said, **fields)
    if status == 404:
        subject = what or "resource"
        return NotFound(f"DigitalOcean has no {subject} (it may have been deleted).", **fields)
    if status == 429:
        return RateLimited(retry_after=retry_after, **fields)
    if status in (400, 409, 422):
        if "droplet limit" in text or "droplet_limit" in text:
            return QuotaExceeded(**fields)
        if "disk" in text and "image" in text:
            return InvalidRequest(
                "The chosen size's disk is too small for the image (an image's "
                "min_disk_size must fit the size's disk). Pick a larger size, or the stock "
                "image." + said, **fields)
        if "size" in text and ("region" in text or "not available" in text):
            return InvalidRequest(
                "The chosen server size is not available in that region. Pick another size "
                "or another region." + said, **fields)
        if "region" in text and "not available" in text:
            return InvalidRequest("That region is not available right now. Pick another."
                                  + said, **fields)
        if "image" in text:
            return NotFound(
                "The image does not exist or is not available in that region." + said,
                **fields)
        return InvalidRequest("DigitalOcean did not accept the request." + said, **fields)
    if status >= 500:
        return CloudUnavailable(
            "DigitalOcean had an internal problem and could not complete the request. Try "
            "again in a few minutes." + said, **fields)
    return CloudError(f"DigitalOcean answered with an unexpected status {status}." + said,
                      **fields)


__all__ = ["DEFAULT_BASE_URL", "PER_PAGE", "DigitalOceanClient", "RateLimitState", "RetryPolicy",
           "Transport", "classify_error"]
