"""The sandbox's DigitalOcean API v2 over real HTTP (aiohttp), plus its admin API.

Paths, field names, status codes, error bodies (`id`, `message`, `request_id`), paging
(`links.pages`, `meta.total`, `per_page` up to 200) and `ratelimit-*` headers follow
DigitalOcean's OpenAPI description; tests/sandbox/test_contract.py validates the answers
against the spec's schemas.

The admin API lives under `/_sandbox/v1/`, a prefix the real API does not have, and
needs the same bearer token: it switches faults on, moves the clock, and tells where a
droplet's simulated SSH host listens (the one mapping between a droplet's address and
a local port, which the app reads only through IBDESK_SANDBOX_SSH_MAP_URL).

The handlers are module-level functions in two route tables (`api`, `admin`), as
aiohttp's own examples write them: each finds the sandbox through `request.app[SANDBOX]`,
reads the request, and asks the `World` (or the `Sandbox`) to make the change; none of
them changes the world's state itself, so every rule of the simulated account lives in
`world.py`. An unknown id anywhere is `world.not_found()`, DigitalOcean's one sentence.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from ibdesk.sandbox import catalogue
from ibdesk.sandbox.world import (
    NOT_FOUND,
    ActionRec,
    APIError,
    DropletRec,
    FirewallRec,
    SSHKeyRec,
    World,
    iso,
    not_found,
)

if TYPE_CHECKING:
    from ibdesk.sandbox.server import Sandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN = "/_sandbox/v1"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200
SANDBOX: web.AppKey[Sandbox] = web.AppKey("sandbox")
api = web.RouteTableDef()
"""DigitalOcean's API v2, as far as ibdesk uses it."""
admin = web.RouteTableDef()
"""The sandbox's own API under ADMIN: faults, the clock, hosts, IBKR users."""


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def _error(status: int, error_id: str, message: str) -> web.Response:
    request_id = str(uuid.uuid4())
    return _json({"id": error_id, "message": message, "request_id": request_id}, status,
                 headers={"x-request-id": request_id})


# ---------------------------------------------------------------------- rendering
def render_droplet(world: World, d: DropletRec,
                   locked: set[int] | None = None) -> dict[str, Any]:
    """`d` as DigitalOcean shows a droplet; `locked`, the ids of the locked droplets
    when the caller renders many (`World.locked_droplet_ids`, worked out once)."""
    if locked is None:
        locked = world.locked_droplet_ids()
    status = world.droplet_status(d)
    size = catalogue.size(d.size) or {}
    v4: list[dict[str, Any]] = []
    if status != "new":
        public_gateway = d.ipv4.rsplit(".", 1)[0] + ".1"
        v4 = [{"ip_address": d.ipv4, "netmask": "255.255.240.0", "gateway": public_gateway,
               "type": "public"},
              {"ip_address": d.private_ipv4, "netmask": "255.255.240.0",
               "gateway": "10.108.0.1", "type": "private"}]
    features = ["private_networking"] + (["monitoring"] if d.monitoring else [])
    return {
        "id": d.id, "name": d.name, "memory": size.get("memory", 1024),
        "vcpus": size.get("vcpus", 1), "disk": size.get("disk", 25),
        "disk_info": size.get("disk_info", []), "locked": d.id in locked,
        "status": status, "kernel": None, "created_at": iso(d.created_at),
        "features": features, "backup_ids": [], "next_backup_window": None,
        "snapshot_ids": [], "image": d.image, "volume_ids": [], "size": size,
        "size_slug": d.size, "networks": {"v4": v4, "v6": []},
        "region": catalogue.region(d.region), "tags": d.tags, "vpc_uuid": d.vpc_uuid,
    }


def render_action(world: World, a: ActionRec) -> dict[str, Any]:
    done = world.now() >= a.completes_at
    status = a.outcome if done else "in-progress"
    return {"id": a.id, "status": status, "type": a.type, "started_at": iso(a.started_at),
            "completed_at": iso(a.completes_at) if done else None, "resource_id": a.droplet_id,
            "resource_type": "droplet", "region": catalogue.region(a.region_slug),
            "region_slug": a.region_slug}


def render_firewall(f: FirewallRec) -> dict[str, Any]:
    return {"id": f.id, "status": "succeeded", "created_at": iso(f.created_at),
            "pending_changes": [], "name": f.name, "droplet_ids": f.droplet_ids,
            "tags": f.tags, "inbound_rules": f.inbound_rules,
            "outbound_rules": f.outbound_rules}


def _page(request: web.Request, key: str, items: list[Any],
          render: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """One page of `items`, with DigitalOcean's links and total; `render` makes the
    page's items only (rendering all of them for every page cost a 1,000-droplet list
    five times the work)."""
    try:
        page = max(1, int(request.query.get("page", "1")))
        per_page = min(MAX_PER_PAGE, max(1, int(request.query.get("per_page",
                                                                  DEFAULT_PER_PAGE))))
    except ValueError:
        raise APIError(400, "bad_request", "page and per_page must be whole numbers") from None
    total = len(items)
    last = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    if render is not None:
        chunk = [render(item) for item in chunk]

    def link(n: int) -> str:
        query = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}
        query.update({"page": str(n), "per_page": str(per_page)})
        return f"{request.scheme}://{request.host}{request.path}?{urlencode(query)}"

    pages: dict[str, str] = {}
    if page > 1:
        pages.update(first=link(1), prev=link(page - 1))
    if page < last:
        pages.update(next=link(page + 1), last=link(last))
    return {key: chunk, "links": {"pages": pages} if pages else {}, "meta": {"total": total}}


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        data = json.loads(await request.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise APIError(400, "bad_request", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise APIError(400, "bad_request", "The request body must be a JSON object.")
    return data


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise not_found() from None


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def _world(request: web.Request) -> World:
    return request.app[SANDBOX].world


def _no_content() -> web.Response:
    return web.Response(status=204)


def render_key(k: SSHKeyRec) -> dict[str, Any]:
    return {"id": k.id, "fingerprint": k.fingerprint, "public_key": k.public_key,
            "name": k.name}


def render_tag(world: World, name: str) -> dict[str, Any]:
    return {"name": name, "resources": world.tag_resources(name)}


# ---------------------------------------------------------------------- the app
def build_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(middlewares=[_middleware])
    app[SANDBOX] = sandbox
    app.router.add_routes(api)
    app.router.add_routes(admin)
    return app


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What stands in front of every handler, in DigitalOcean's order: the token, its
    scope, the faults switched on, the rate limit; then the errors as DigitalOcean's JSON
    bodies, and saving what a write changed."""
    sandbox = _sandbox(request)
    world = sandbox.world
    is_api = request.path.startswith("/v2/")
    refusal = _refuse_token(request, world)
    if refusal is not None:
        return refusal
    world.tick()
    headers: dict[str, str] = {}
    if is_api:
        headers, refusal = await _apply_faults(request, sandbox)
        if refusal is not None:
            return refusal
    response: web.StreamResponse
    try:
        response = await handler(request)
    except APIError as exc:
        response = _error(exc.status, exc.error_id, exc.message)
    except web.HTTPException as exc:
        if exc.status == 404:
            response = _error(404, "not_found", NOT_FOUND)
        elif exc.status == 405:
            response = _error(405, "method_not_allowed", "Method not allowed.")
        else:
            raise
    response.headers.update(headers)
    if is_api and request.method != "GET" and response.status < 300:
        sandbox.save()  # the cloud never forgets what it accepted
        _maybe_lose_answer(request, world)
    return response


def _refuse_token(request: web.Request, world: World) -> web.Response | None:
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    # like a public IP echo service; and the SSH port map: SSH to a real droplet does
    # not go through DigitalOcean, so a revoked token must not cut it here either
    open_path = request.path == f"{ADMIN}/ip" or request.path.startswith(f"{ADMIN}/ssh/")
    if token not in world.config.tokens and not open_path:
        return _error(401, "unauthorized", "Unable to authenticate you.")
    if (request.path.startswith("/v2/") and token in world.config.read_only_tokens
            and request.method != "GET"):
        return _error(403, "forbidden", "You are not authorized to perform this operation")
    return None


async def _apply_faults(request: web.Request,
                        sandbox: Sandbox) -> tuple[dict[str, str], web.Response | None]:
    """Log the request, then the faults in force: latency, a hang, the rate limit, a 500.
    The rate-limit headers, and a refusal if one of them answers instead."""
    world = sandbox.world
    body = (await request.text()) if request.body_exists else ""
    world.requests.append({"method": request.method, "path": request.path,
                           "query": request.query_string, "body": body})
    faults = world.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.timeout_rate and world.random.random() < faults.timeout_rate:
        await sandbox.stopping.wait()  # never answers; the client gives up first
        return {}, _error(503, "service_unavailable", "The sandbox is stopping.")
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    headers, limited = world.rate_limit(token)
    refusal = None
    if limited:
        refusal = _error(429, "too_many_requests", "API rate limit exceeded.")
    elif faults.error_rate and world.random.random() < faults.error_rate:
        refusal = _error(500, "server_error", "Unexpected server-side error")
    if refusal is not None:
        refusal.headers.update(headers)
    return headers, refusal


def _maybe_lose_answer(request: web.Request, world: World) -> None:
    """The `lost_answers` fault: the write is done, and its answer never arrives."""
    lost = world.faults.lost_answers
    key = f"{request.method} {request.path}"
    if lost.get(key, 0) > 0:
        lost[key] -= 1
        if request.transport is not None:
            request.transport.close()


# ---------------------------------------------------------------------- account & catalogue
@api.get("/v2/account")
async def get_account(request: web.Request) -> web.Response:
    return _json({"account": _world(request).account()})


@api.get("/v2/sizes")
async def list_sizes(request: web.Request) -> web.Response:
    return _json(_page(request, "sizes", catalogue.sizes()))


@api.get("/v2/regions")
async def list_regions(request: web.Request) -> web.Response:
    return _json(_page(request, "regions", catalogue.regions()))


@api.get("/v2/images")
async def list_images(request: web.Request) -> web.Response:
    images = _world(request).images()
    kind = request.query.get("type")
    if kind == "distribution":
        images = [i for i in images if i["type"] == "base"]
    elif kind == "application":
        images = [i for i in images if i["type"] == "application"]
    if request.query.get("private") == "true":  # the account's own images
        images = [i for i in images if i["type"] in ("snapshot", "backup", "custom")]
    return _json(_page(request, "images", images))


@api.get("/v2/images/{ref}")
async def get_image(request: web.Request) -> web.Response:
    return _json({"image": _world(request).image(request.match_info["ref"])})


# ---------------------------------------------------------------------- SSH keys
@api.get("/v2/account/keys")
async def list_keys(request: web.Request) -> web.Response:
    keys = [render_key(k) for k in _world(request).ssh_keys.values()]
    return _json(_page(request, "ssh_keys", keys))


@api.post("/v2/account/keys")
async def create_key(request: web.Request) -> web.Response:
    body = await _body(request)
    key = _world(request).add_ssh_key(body.get("name"), body.get("public_key"))
    return _json({"ssh_key": render_key(key)}, 201)


@api.get("/v2/account/keys/{ref}")
async def get_key(request: web.Request) -> web.Response:
    return _json({"ssh_key": render_key(_world(request).ssh_key(request.match_info["ref"]))})


@api.delete("/v2/account/keys/{ref}")
async def delete_key(request: web.Request) -> web.Response:
    _world(request).delete_ssh_key(request.match_info["ref"])
    return _no_content()


# ---------------------------------------------------------------------- tags
@api.post("/v2/tags")
async def create_tag(request: web.Request) -> web.Response:
    world = _world(request)
    name = world.create_tag((await _body(request)).get("name"))
    return _json({"tag": render_tag(world, name)}, 201)


@api.get("/v2/tags/{name}")
async def get_tag(request: web.Request) -> web.Response:
    world = _world(request)
    return _json({"tag": render_tag(world, world.tag(request.match_info["name"]))})


@api.delete("/v2/tags/{name}")
async def delete_tag(request: web.Request) -> web.Response:
    _world(request).delete_tag(request.match_info["name"])
    return _no_content()


# ---------------------------------------------------------------------- droplets
@api.post("/v2/droplets")
async def create_droplet(request: web.Request) -> web.Response:
    world = _world(request)
    droplet, action = world.create_droplet(await _body(request))
    base = f"{request.scheme}://{request.host}"
    return _json({"droplet": render_droplet(world, droplet),
                  "links": {"actions": [{"id": action.id, "rel": "create",
                                         "href": f"{base}/v2/actions/{action.id}"}]}}, 202)


@api.get("/v2/droplets")
async def list_droplets(request: web.Request) -> web.Response:
    world = _world(request)
    droplets = sorted(world.droplets.values(), key=lambda d: d.id)
    if "tag_name" in request.query:
        droplets = [d for d in droplets if request.query["tag_name"] in d.tags]
    if "name" in request.query:
        droplets = [d for d in droplets if d.name == request.query["name"]]
    locked = world.locked_droplet_ids()
    return _json(_page(request, "droplets", droplets,
                       lambda d: render_droplet(world, d, locked)))


@api.delete("/v2/droplets")
async def delete_droplets_by_tag(request: web.Request) -> web.Response:
    tag = request.query.get("tag_name")
    if not tag:
        raise APIError(400, "bad_request", "tag_name is required to delete droplets")
    _world(request).destroy_by_tag(tag)
    return _no_content()


@api.get("/v2/droplets/{id}")
async def get_droplet(request: web.Request) -> web.Response:
    world = _world(request)
    droplet = world.droplet(_int(request.match_info["id"]))
    return _json({"droplet": render_droplet(world, droplet)})


@api.delete("/v2/droplets/{id}")
async def delete_droplet(request: web.Request) -> web.Response:
    _world(request).destroy_droplet(_int(request.match_info["id"]))
    return _no_content()


@api.post("/v2/droplets/{id}/actions")
async def post_action(request: web.Request) -> web.Response:
    world = _world(request)
    body = await _body(request)
    action = world.droplet_action(_int(request.match_info["id"]), body.get("type"))
    return _json({"action": render_action(world, action)}, 201)


@api.get("/v2/droplets/{id}/actions/{action_id}")
async def get_droplet_action(request: web.Request) -> web.Response:
    world = _world(request)
    action = world.action(_int(request.match_info["action_id"]))
    if action.droplet_id != _int(request.match_info["id"]):
        raise not_found()
    return _json({"action": render_action(world, action)})


@api.get("/v2/actions/{id}")
async def get_action(request: web.Request) -> web.Response:
    world = _world(request)
    return _json({"action": render_action(world, world.action(_int(request.match_info["id"])))})


# ---------------------------------------------------------------------- firewalls
@api.post("/v2/firewalls")
async def create_firewall(request: web.Request) -> web.Response:
    rec = _world(request).create_firewall(await _body(request))
    return _json({"firewall": render_firewall(rec)}, 202)


@api.get("/v2/firewalls")
async def list_firewalls(request: web.Request) -> web.Response:
    firewalls = [render_firewall(f) for f in _world(request).firewalls.values()]
    return _json(_page(request, "firewalls", firewalls))


@api.get("/v2/firewalls/{id}")
async def get_firewall(request: web.Request) -> web.Response:
    return _json({"firewall": render_firewall(_world(request).firewall(request.match_info["id"]))})


@api.put("/v2/firewalls/{id}")
async def put_firewall(request: web.Request) -> web.Response:
    rec = _world(request).update_firewall(request.match_info["id"], await _body(request))
    return _json({"firewall": render_firewall(rec)})


@api.delete("/v2/firewalls/{id}")
async def delete_firewall(request: web.Request) -> web.Response:
    _world(request).delete_firewall(request.match_info["id"])
    return _no_content()


@api.route("POST", "/v2/firewalls/{id}/droplets")
@api.route("DELETE", "/v2/firewalls/{id}/droplets")
async def firewall_droplets(request: web.Request) -> web.Response:
    ids = (await _body(request)).get("droplet_ids") or []
    _world(request).change_firewall_droplets(request.match_info["id"], list(ids),
                                             add=request.method == "POST")
    return _no_content()


@api.route("POST", "/v2/firewalls/{id}/rules")
@api.route("DELETE", "/v2/firewalls/{id}/rules")
async def firewall_rules(request: web.Request) -> web.Response:
    _world(request).change_firewall_rules(request.match_info["id"], await _body(request),
                                          add=request.method == "POST")
    return _no_content()


@api.route("POST", "/v2/firewalls/{id}/tags")
@api.route("DELETE", "/v2/firewalls/{id}/tags")
async def firewall_tags(request: web.Request) -> web.Response:
    tags = (await _body(request)).get("tags") or []
    _world(request).change_firewall_tags(request.match_info["id"], list(tags),
                                         add=request.method == "POST")
    return _no_content()


# ---------------------------------------------------------------------- admin API
@admin.get(f"{ADMIN}/faults")
async def get_faults(request: web.Request) -> web.Response:
    return _json(asdict(_world(request).faults))


@admin.post(f"{ADMIN}/faults")
async def set_faults(request: web.Request) -> web.Response:
    world = _world(request)
    world.faults.update(await _body(request))
    return _json(asdict(world.faults))


@admin.post(f"{ADMIN}/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    now = _world(request).advance(float((await _body(request)).get("seconds", 0)))
    await _sandbox(request).sync_hosts()
    return _json({"now": now})


@admin.post(f"{ADMIN}/droplets/{{id}}/vanish")
async def vanish(request: web.Request) -> web.Response:
    _world(request).vanish(_int(request.match_info["id"]))
    await _sandbox(request).sync_hosts()
    return _no_content()


@admin.post(f"{ADMIN}/droplets/{{id}}/gateway")
async def gateway_fault(request: web.Request) -> web.Response:
    host = _sandbox(request).host(_int(request.match_info["id"]))
    body = dict(await _body(request))
    if "clock_skew_seconds" in body:
        host.clock_skew = float(body.pop("clock_skew_seconds"))
    try:
        state = host.set_gateway_faults(**body)
    except ValueError as exc:
        raise APIError(400, "bad_request", str(exc)) from None
    return _json({**state, "clock_skew_seconds": host.clock_skew})


@admin.get(f"{ADMIN}/droplets/{{id}}/host")
async def host_state(request: web.Request) -> web.Response:
    return _json(_sandbox(request).host(_int(request.match_info["id"])).describe())


@admin.get(f"{ADMIN}/droplets/{{id}}/file")
async def host_file(request: web.Request) -> web.Response:
    host = _sandbox(request).host(_int(request.match_info["id"]))
    path = request.query.get("path", "")
    try:
        data, mode = host.read_file(path)
    except FileNotFoundError:
        raise APIError(404, "not_found", f"no file {path} on that host") from None
    return _json({"path": path, "mode": oct(mode), "size": len(data),
                  "content": data.decode("utf-8", "replace")})


@admin.post(f"{ADMIN}/users/{{username}}")
async def ibkr_user(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    body = dict(await _body(request))
    unknown = set(body) - {"password", "totp_secret"}
    if unknown or not all(isinstance(v, str) for v in body.values()):
        raise APIError(400, "bad_request", "give password and/or totp_secret as strings")
    try:
        user = _sandbox(request).users.change(username, **body)
    except KeyError:
        raise APIError(404, "not_found", f"no IBKR user {username}") from None
    # the answer never repeats a password or secret
    return _json({"username": user.username, "totp": user.totp_secret is not None})


@admin.get(f"{ADMIN}/ssh/{{ip}}")
async def ssh_endpoint(request: web.Request) -> web.Response:
    host = _sandbox(request).host_by_ip(request.match_info["ip"])
    return _json({"ip": request.match_info["ip"], "host": "127.0.0.1", "port": host.ssh_port})


@admin.post(f"{ADMIN}/images/{{slug}}/withdraw")
async def withdraw_image(request: web.Request) -> web.Response:
    world = _world(request)
    slug = request.match_info["slug"]
    world.image(slug)  # 404 for what never existed
    world.withdraw_image(slug)
    return _no_content()


@admin.get(f"{ADMIN}/requests")
async def requests_log(request: web.Request) -> web.Response:
    return _json({"requests": list(_world(request).requests)})


@admin.get(f"{ADMIN}/ip")
async def public_ip(request: web.Request) -> web.Response:
    return web.Response(text=_world(request).config.workstation_ip)


__all__ = ["ADMIN", "SANDBOX", "admin", "api", "build_app", "render_action", "render_droplet",
           "render_firewall", "render_key", "render_tag"]
