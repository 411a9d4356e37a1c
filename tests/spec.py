"""DigitalOcean's OpenAPI files, with `$ref`s resolved, for tests to take examples and
schemas from (the copy in tests/reference/)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SPEC_ROOT = Path(__file__).parent / "reference" / "digitalocean-openapi" / "specification"
RESOURCES = SPEC_ROOT / "resources"


class _Loader(yaml.SafeLoader):
    """YAML 1.2 reading: timestamps stay strings, and only true/false are booleans
    (YAML 1.1 would turn the droplet status enum value `off` into False)."""


_Loader.yaml_implicit_resolvers = {
    key: [r for r in resolvers
          if r[0] not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


@lru_cache(maxsize=None)
def _load(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 - safe loader subclass


def _resolve(node: Any, base: Path, depth: int = 0) -> Any:
    if depth > 60:
        raise RecursionError(f"$ref chain too deep at {base}")
    if isinstance(node, dict):
        if "$ref" in node:
            file, _, pointer = node["$ref"].partition("#")
            target = (base.parent / file).resolve() if file else base
            doc = _load(target)
            for part in filter(None, pointer.split("/")):
                doc = doc[part]
            resolved = _resolve(doc, target, depth + 1)
            extra = {k: v for k, v in node.items() if k != "$ref"}
            if extra and isinstance(resolved, dict):
                return {**resolved, **_resolve(extra, base, depth + 1)}
            return resolved
        return {k: _resolve(v, base, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, base, depth + 1) for v in node]
    return node


def operation(relpath: str) -> dict[str, Any]:
    """An operation file under resources/, e.g. 'droplets/droplets_list.yml'."""
    path = (RESOURCES / relpath).resolve()
    return _resolve(_load(path), path)


def response(relpath: str, status: int | str) -> dict[str, Any]:
    return operation(relpath)["responses"][str(status)]


def examples(relpath: str, status: int | str) -> list[dict[str, Any]]:
    """Every example body the spec gives for that operation and status."""
    content = response(relpath, status)["content"]["application/json"]
    found = []
    if "example" in content:
        found.append(content["example"])
    for example in (content.get("examples") or {}).values():
        found.append(example["value"])
    return found


def error_example(name: str) -> dict[str, Any]:
    """The example body of shared/responses/<name>.yml (unauthorized, not_found, …)."""
    path = (SPEC_ROOT / "shared" / "responses" / f"{name}.yml").resolve()
    return _resolve(_load(path), path)["content"]["application/json"]["example"]


def _openapi_to_jsonschema(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _openapi_to_jsonschema(v) for k, v in node.items()
               if k not in {"example", "examples", "nullable", "readOnly", "writeOnly",
                            "deprecated", "x-codegen", "discriminator"}}
        if node.get("nullable"):
            if "type" in out:
                out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [
                    *out["type"], "null"]
            out = {"anyOf": [out, {"type": "null"}]} if "type" not in out else out
        return out
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v) for v in node]
    return node


def schema(relpath: str, status: int | str, *, observed: bool = True) -> dict[str, Any]:
    """The response body's schema, as JSON Schema (OpenAPI's `nullable` translated).

    With `observed` (the default), the image's `type` and `status` enums are opened: what
    DigitalOcean really sends lies outside them (`application` for every 1-Click, see
    ibdesk/sandbox/observed/), and the sandbox answers with those real objects."""
    content = response(relpath, status)["content"]["application/json"]
    converted = _openapi_to_jsonschema(content["schema"])
    return _open_image_enums(converted) if observed else converted


def _open_image_enums(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _open_image_enums(v) for k, v in node.items()}
        props = out.get("properties")
        if isinstance(props, dict) and {"min_disk_size", "type", "distribution"} <= set(props):
            for name in ("type", "status"):
                if isinstance(props.get(name), dict):
                    props[name] = {k: v for k, v in props[name].items() if k != "enum"}
        return out
    if isinstance(node, list):
        return [_open_image_enums(v) for v in node]
    return node


def _synthesize(node: Any) -> Any:
    """An instance built from the `example` values the spec puts on each property."""
    if not isinstance(node, dict):
        return None
    if "example" in node:
        return node["example"]
    if "allOf" in node:
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            value = _synthesize(part)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for key in ("oneOf", "anyOf"):
        if key in node and node[key]:
            return _synthesize(node[key][0])
    if node.get("type") == "array" or "items" in node:
        item = _synthesize(node.get("items", {}))
        return [] if item is None else [item]
    if node.get("type") == "object" or "properties" in node:
        out = {}
        for name, prop in (node.get("properties") or {}).items():
            value = _synthesize(prop)
            if value is not None or prop.get("nullable"):
                out[name] = value
        return out
    return node.get("default")


def sample(relpath: str, status: int | str) -> list[dict[str, Any]]:
    """The spec's examples for a response, or one built from its property examples."""
    content = response(relpath, status)["content"]["application/json"]
    return examples(relpath, status) or [_synthesize(content["schema"])]
