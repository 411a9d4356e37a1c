"""The sandbox's DigitalOcean API v2 over real HTTP (aiohttp), plus its admin API.

Paths, field names, status codes, error bodies (`id`, `message`, `request_id`), paging
(`links.pages`, `meta.total`, `per_page` up to 200) and `ratelimit-*` headers follow
DigitalOcean's OpenAPI description; tests/sandbox/test_contract.py validates the answers
against the spec's schemas.

The admin API lives under `/_sandbox/v1/`, a prefix the real API does not have, and
needs the same bearer token: it switches faults on, moves the clock, and tells where a
droplet's simulated SSH host listens (the one mapping between a droplet's address and
a local port, which the app reads only through IBDESK_SANDBOX_SSH_MAP_URL).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from ibdesk.sandbox import catalogue
from ibdesk.sandbox.world import (
    ActionRec,
    APIError,
    DropletRec,
    FirewallRec,
    World,
    iso,
)

if TYPE_CHECKING:
    from ibdesk.sandbox.server import Sandbox

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN = "/_sandbox/v1"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def _error(status: int, error_id: str, message: str) -> web.Response:
    request_id = str(uuid.uuid4())
    return _json({"id": error_id, "message": message, "request_id": request_id}, status,
                 headers={"x-request-id": request_id})


# ---------------------------------------------------------------------- rendering
def render_droplet(world: World, d: DropletRec) -> dict[str, Any]:
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
        "disk_info": size.get("disk_info", []), "locked": world.droplet_locked(d),
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


def _page(request: web.Request, key: str, items: list[Any]) -> dict[str, Any]:
    try:
        page = max(1, int(request.query.get("page", "1")))
        per_page = min(MAX_PER_PAGE, max(1, int(request.query.get("per_page",
                                                                  DEFAULT_PER_PAGE))))
    except ValueError:
        raise APIError(400, "bad_request", "page and per_page must be whole numbers") from None
    total = len(items)
    last = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]

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
        raise APIError(404, "not_found", "The resource you requested could not be found.") from None


# ---------------------------------------------------------------------- the app
def build_app(sandbox: Sandbox) -> web.Application:
    world = sandbox.world

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        is_api = request.path.startswith("/v2/")
        headers: dict[str, str] = {}
        # like a public IP echo service; and the SSH port map: SSH to a real droplet does
        # not go through DigitalOcean, so a revoked token must not cut it here either
        open_path = request.path == f"{ADMIN}/ip" or request.path.startswith(f"{ADMIN}/ssh/")
        if token not in world.config.tokens and not open_path:
            return _error(401, "unauthorized", "Unable to authenticate you.")
        if is_api and token in world.config.read_only_tokens and request.method != "GET":
            return _error(403, "forbidden", "You are not authorized to perform this operation")
        world.tick()
        if is_api:
            body = (await request.text()) if request.body_exists else ""
            world.requests.append({"method": request.method, "path": request.path,
                                   "query": request.query_string, "body": body})
            faults = world.faults
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if faults.timeout_rate and world.random.random() < faults.timeout_rate:
                await sandbox.stopping.wait()  # never answers; the client gives up first
                return _error(503, "service_unavailable", "The sandbox is stopping.")
            headers, refused = world.rate_limit(token)
            if refused:
                refusal = _error(429, "too_many_requests", "API rate limit exceeded.")
                refusal.headers.update(headers)
                return refusal
            if faults.error_rate and world.random.random() < faults.error_rate:
                refusal = _error(500, "server_error", "Unexpected server-side error")
                refusal.headers.update(headers)
                return refusal
        response: web.StreamResponse
        try:
            response = await handler(request)
        except APIError as exc:
            response = _error(exc.status, exc.error_id, exc.message)
        except web.HTTPException as exc:
            if exc.status == 404:
                response = _error(404, "not_found",
                                  "The resource you requested could not be found.")
            elif exc.status == 405:
                response = _error(405, "method_not_allowed", "Method not allowed.")
            else:
                raise
        response.headers.update(headers)
        if is_api and request.method != "GET" and response.status < 300:
            sandbox.save()  # the cloud never forgets what it accepted
            lost = world.faults.lost_answers
            key = f"{request.method} {request.path}"
            if lost.get(key, 0) > 0:
                lost[key] -= 1
                if request.transport is not None:
                    request.transport.close()  # done, and the answer never arrives
        return response

    app = web.Application(middlewares=[middleware])
    r = app.router

    # -- account & catalogue
    async def get_account(request: web.Request) -> web.Response:
        return _json({"account": world.account()})

    async def list_sizes(request: web.Request) -> web.Response:
        return _json(_page(request, "sizes", catalogue.sizes()))

    async def list_regions(request: web.Request) -> web.Response:
        return _json(_page(request, "regions", catalogue.regions()))

    async def list_images(request: web.Request) -> web.Response:
        images = world.images()
        kind = request.query.get("type")
        if kind == "distribution":
            images = [i for i in images if i["type"] == "base"]
        elif kind == "application":
            images = [i for i in images if i["type"] == "application"]
        if request.query.get("private") == "true":  # the account's own images
            images = [i for i in images if i["type"] in ("snapshot", "backup", "custom")]
        return _json(_page(request, "images", images))

    async def get_image(request: web.Request) -> web.Response:
        return _json({"image": world.image(request.match_info["ref"])})

    # -- SSH keys
    def _key(k: Any) -> dict[str, Any]:
        return {"id": k.id, "fingerprint": k.fingerprint, "public_key": k.public_key,
                "name": k.name}

    async def list_keys(request: web.Request) -> web.Response:
        return _json(_page(request, "ssh_keys", [_key(k) for k in world.ssh_keys.values()]))

    async def create_key(request: web.Request) -> web.Response:
        body = await _body(request)
        return _json({"ssh_key": _key(world.add_ssh_key(body.get("name"),
                                                        body.get("public_key")))}, 201)

    async def get_key(request: web.Request) -> web.Response:
        return _json({"ssh_key": _key(world.ssh_key(request.match_info["ref"]))})

    async def delete_key(request: web.Request) -> web.Response:
        key = world.ssh_key(request.match_info["ref"])
        del world.ssh_keys[key.id]
        return web.Response(status=204)

    # -- tags
    async def create_tag(request: web.Request) -> web.Response:
        name = world.create_tag((await _body(request)).get("name"))
        return _json({"tag": {"name": name, "resources": world.tag_resources(name)}}, 201)

    async def get_tag(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in world.tags:
            raise APIError(404, "not_found", "The resource you requested could not be found.")
        return _json({"tag": {"name": name, "resources": world.tag_resources(name)}})

    async def delete_tag(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if world.tags.pop(name, None) is None:
            raise APIError(404, "not_found", "The resource you requested could not be found.")
        for droplet in world.droplets.values():
            if name in droplet.tags:
                droplet.tags.remove(name)
        return web.Response(status=204)

    # -- droplets
    async def create_droplet(request: web.Request) -> web.Response:
        droplet, action = world.create_droplet(await _body(request))
        base = f"{request.scheme}://{request.host}"
        return _json({"droplet": render_droplet(world, droplet),
                      "links": {"actions": [{"id": action.id, "rel": "create",
                                             "href": f"{base}/v2/actions/{action.id}"}]}}, 202)

    async def list_droplets(request: web.Request) -> web.Response:
        droplets = sorted(world.droplets.values(), key=lambda d: d.id)
        if "tag_name" in request.query:
            droplets = [d for d in droplets if request.query["tag_name"] in d.tags]
        if "name" in request.query:
            droplets = [d for d in droplets if d.name == request.query["name"]]
        return _json(_page(request, "droplets", [render_droplet(world, d) for d in droplets]))

    async def get_droplet(request: web.Request) -> web.Response:
        droplet = world.droplet(_int(request.match_info["id"]))
        return _json({"droplet": render_droplet(world, droplet)})

    async def delete_droplet(request: web.Request) -> web.Response:
        world.destroy_droplet(_int(request.match_info["id"]))
        return web.Response(status=204)

    async def delete_droplets_by_tag(request: web.Request) -> web.Response:
        tag = request.query.get("tag_name")
        if not tag:
            raise APIError(400, "bad_request", "tag_name is required to delete droplets")
        world.destroy_by_tag(tag)
        return web.Response(status=204)

    async def post_action(request: web.Request) -> web.Response:
        body = await _body(request)
        action = world.droplet_action(_int(request.match_info["id"]), body.get("type"))
        return _json({"action": render_action(world, action)}, 201)

    async def get_droplet_action(request: web.Request) -> web.Response:
        action = world.action(_int(request.match_info["action_id"]))
        if action.droplet_id != _int(request.match_info["id"]):
            raise APIError(404, "not_found", "The resource you requested could not be found.")
        return _json({"action": render_action(world, action)})

    async def get_action(request: web.Request) -> web.Response:
        return _json({"action": render_action(world, world.action(_int(
            request.match_info["id"])))})

    # -- firewalls
    async def create_firewall(request: web.Request) -> web.Response:
        return _json({"firewall": render_firewall(world.create_firewall(await _body(request)))},
                     202)

    async def list_firewalls(request: web.Request) -> web.Response:
        return _json(_page(request, "firewalls",
                           [render_firewall(f) for f in world.firewalls.values()]))

    async def get_firewall(request: web.Request) -> web.Response:
        return _json({"firewall": render_firewall(world.firewall(request.match_info["id"]))})

    async def put_firewall(request: web.Request) -> web.Response:
        rec = world.update_firewall(request.match_info["id"], await _body(request))
        return _json({"firewall": render_firewall(rec)})

    async def delete_firewall(request: web.Request) -> web.Response:
        world.firewall(request.match_info["id"])
        del world.firewalls[request.match_info["id"]]
        return web.Response(status=204)

    async def firewall_droplets(request: web.Request) -> web.Response:
        rec = world.firewall(request.match_info["id"])
        ids = [int(i) for i in (await _body(request)).get("droplet_ids") or []]
        for droplet_id in ids:
            world.droplet(droplet_id)
        if request.method == "POST":
            rec.droplet_ids = list(dict.fromkeys(rec.droplet_ids + ids))
        else:
            rec.droplet_ids = [i for i in rec.droplet_ids if i not in ids]
        return web.Response(status=204)

    async def firewall_rules(request: web.Request) -> web.Response:
        world.change_firewall_rules(request.match_info["id"], await _body(request),
                                    add=request.method == "POST")
        return web.Response(status=204)

    async def firewall_tags(request: web.Request) -> web.Response:
        rec = world.firewall(request.match_info["id"])
        tags = list((await _body(request)).get("tags") or [])
        if request.method == "POST":
            for tag in tags:
                world.create_tag(tag)
            rec.tags = list(dict.fromkeys(rec.tags + tags))
        else:
            rec.tags = [t for t in rec.tags if t not in tags]
        return web.Response(status=204)

    r.add_get("/v2/account", get_account)
    r.add_get("/v2/sizes", list_sizes)
    r.add_get("/v2/regions", list_regions)
    r.add_get("/v2/images", list_images)
    r.add_get("/v2/images/{ref}", get_image)
    r.add_get("/v2/account/keys", list_keys)
    r.add_post("/v2/account/keys", create_key)
    r.add_get("/v2/account/keys/{ref}", get_key)
    r.add_delete("/v2/account/keys/{ref}", delete_key)
    r.add_post("/v2/tags", create_tag)
    r.add_get("/v2/tags/{name}", get_tag)
    r.add_delete("/v2/tags/{name}", delete_tag)
    r.add_post("/v2/droplets", create_droplet)
    r.add_get("/v2/droplets", list_droplets)
    r.add_delete("/v2/droplets", delete_droplets_by_tag)
    r.add_get("/v2/droplets/{id}", get_droplet)
    r.add_delete("/v2/droplets/{id}", delete_droplet)
    r.add_post("/v2/droplets/{id}/actions", post_action)
    r.add_get("/v2/droplets/{id}/actions/{action_id}", get_droplet_action)
    r.add_get("/v2/actions/{id}", get_action)
    r.add_post("/v2/firewalls", create_firewall)
    r.add_get("/v2/firewalls", list_firewalls)
    r.add_get("/v2/firewalls/{id}", get_firewall)
    r.add_put("/v2/firewalls/{id}", put_firewall)
    r.add_delete("/v2/firewalls/{id}", delete_firewall)
    r.add_post("/v2/firewalls/{id}/droplets", firewall_droplets)
    r.add_delete("/v2/firewalls/{id}/droplets", firewall_droplets)
    r.add_post("/v2/firewalls/{id}/rules", firewall_rules)
    r.add_delete("/v2/firewalls/{id}/rules", firewall_rules)
    r.add_post("/v2/firewalls/{id}/tags", firewall_tags)
    r.add_delete("/v2/firewalls/{id}/tags", firewall_tags)
    _add_admin_routes(app, sandbox)
    return app


# ---------------------------------------------------------------------- admin API
def _add_admin_routes(app: web.Application, sandbox: Sandbox) -> None:
    world = sandbox.world
    r = app.router

    async def get_faults(request: web.Request) -> web.Response:
        f = world.faults
        return _json({"latency_ms": f.latency_ms, "error_rate": f.error_rate,
                      "timeout_rate": f.timeout_rate, "rate_limit_burst": f.rate_limit_burst,
                      "fail_actions": f.fail_actions,
                      "cloud_init_degraded": f.cloud_init_degraded,
                      "lost_answers": f.lost_answers})

    async def set_faults(request: web.Request) -> web.Response:
        body = await _body(request)
        f = world.faults
        for key in ("latency_ms", "error_rate", "timeout_rate"):
            if key in body:
                setattr(f, key, float(body[key]))
        if "rate_limit_burst" in body:
            f.rate_limit_burst = int(body["rate_limit_burst"])
        if "fail_actions" in body:
            f.fail_actions.update({str(k): int(v) for k, v in body["fail_actions"].items()})
        if "cloud_init_degraded" in body:
            f.cloud_init_degraded = int(body["cloud_init_degraded"])
        if "lost_answers" in body:
            f.lost_answers.update({str(k): int(v) for k, v in body["lost_answers"].items()})
        return await get_faults(request)

    async def advance_clock(request: web.Request) -> web.Response:
        seconds = float((await _body(request)).get("seconds", 0))
        if seconds < 0:
            raise APIError(400, "bad_request", "time only moves forward")
        world.clock.advance(seconds)
        world.tick()
        await sandbox.sync_hosts()
        return _json({"now": world.now()})

    async def vanish(request: web.Request) -> web.Response:
        world.vanish(_int(request.match_info["id"]))
        await sandbox.sync_hosts()
        return web.Response(status=204)

    async def gateway_fault(request: web.Request) -> web.Response:
        host = sandbox.host(_int(request.match_info["id"]))
        body = dict(await _body(request))
        if "clock_skew_seconds" in body:
            host.clock_skew = float(body.pop("clock_skew_seconds"))
        try:
            state = host.set_gateway_faults(**body)
        except ValueError as exc:
            raise APIError(400, "bad_request", str(exc)) from None
        return _json({**state, "clock_skew_seconds": host.clock_skew})

    async def ibkr_user(request: web.Request) -> web.Response:
        username = request.match_info["username"]
        body = dict(await _body(request))
        unknown = set(body) - {"password", "totp_secret"}
        if unknown or not all(isinstance(v, str) for v in body.values()):
            raise APIError(400, "bad_request", "give password and/or totp_secret as strings")
        try:
            user = sandbox.users.change(username, **body)
        except KeyError:
            raise APIError(404, "not_found", f"no IBKR user {username}") from None
        # the answer never repeats a password or secret
        return _json({"username": user.username, "totp": user.totp_secret is not None})

    async def ssh_endpoint(request: web.Request) -> web.Response:
        host = sandbox.host_by_ip(request.match_info["ip"])
        return _json({"ip": request.match_info["ip"], "host": "127.0.0.1",
                      "port": host.ssh_port})

    async def host_file(request: web.Request) -> web.Response:
        host = sandbox.host(_int(request.match_info["id"]))
        path = request.query.get("path", "")
        try:
            data, mode = host.read_file(path)
        except FileNotFoundError:
            raise APIError(404, "not_found", f"no file {path} on that host") from None
        return _json({"path": path, "mode": oct(mode), "size": len(data),
                      "content": data.decode("utf-8", "replace")})

    async def host_state(request: web.Request) -> web.Response:
        return _json(sandbox.host(_int(request.match_info["id"])).describe())

    async def withdraw_image(request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        world.image(slug)  # 404 for what never existed
        world.withdraw_image(slug)
        return web.Response(status=204)

    async def requests_log(request: web.Request) -> web.Response:
        return _json({"requests": list(world.requests)})

    async def public_ip(request: web.Request) -> web.Response:
        return web.Response(text=world.config.workstation_ip)

    r.add_get(f"{ADMIN}/faults", get_faults)
    r.add_post(f"{ADMIN}/faults", set_faults)
    r.add_post(f"{ADMIN}/clock/advance", advance_clock)
    r.add_post(f"{ADMIN}/droplets/{{id}}/vanish", vanish)
    r.add_post(f"{ADMIN}/droplets/{{id}}/gateway", gateway_fault)
    r.add_get(f"{ADMIN}/droplets/{{id}}/host", host_state)
    r.add_get(f"{ADMIN}/droplets/{{id}}/file", host_file)
    r.add_post(f"{ADMIN}/users/{{username}}", ibkr_user)
    r.add_get(f"{ADMIN}/ssh/{{ip}}", ssh_endpoint)
    r.add_post(f"{ADMIN}/images/{{slug}}/withdraw", withdraw_image)
    r.add_get(f"{ADMIN}/requests", requests_log)
    r.add_get(f"{ADMIN}/ip", public_ip)


__all__ = ["ADMIN", "build_app", "render_action", "render_droplet", "render_firewall"]
