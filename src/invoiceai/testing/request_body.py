"""Reading a Messages API request body: its blocks, images, cache breakpoints and schema.

Used by the fake API to check requests the way the real API does, and by tests (through
:class:`~invoiceai.testing.RecordedRequest`) to assert on what was sent.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from invoiceai.testing.pages import image_info

__all__ = [
    "FakeImage",
    "blocks",
    "cache_paths",
    "estimate_input",
    "images",
    "json_bytes",
    "requested_schema",
    "skeleton",
    "static_prefix",
]


@dataclasses.dataclass(frozen=True)
class FakeImage:
    """An image block as the fake server saw it.

    Attributes:
        path: Where it sits in the request (``messages.0.content.1``).
        media_type: The declared ``source.media_type``.
        actual_media_type: What the bytes are.
        width: Pixel width.
        height: Pixel height.
        size: Decoded byte size.
        transformations: The block's ``transformations``.
    """

    path: str
    media_type: str
    actual_media_type: str
    width: int
    height: int
    size: int
    transformations: Mapping[str, Any] | None


def blocks(body: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields ``(path, block)`` for every content block of the messages, nested ones included."""
    for m, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for c, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            path = f"messages.{m}.content.{c}"
            yield path, block
            nested = block.get("content")
            if isinstance(nested, list):
                for n, inner in enumerate(nested):
                    if isinstance(inner, dict):
                        yield f"{path}.content.{n}", inner


def images(body: Mapping[str, Any]) -> list[FakeImage | str]:
    """Returns every image block decoded, or a validation message for one that cannot be read."""
    found: list[FakeImage | str] = []
    for path, block in blocks(body):
        if block.get("type") != "image":
            continue
        source = block.get("source") or {}
        if source.get("type") != "base64":
            found.append(f"{path}.source: only base64 images are supported by the fake")
            continue
        try:
            data = base64.b64decode(source.get("data") or "", validate=True)
            actual, width, height = image_info(data)
        except (binascii.Error, ValueError):
            found.append(f"{path}.source.data: the image could not be decoded")
            continue
        found.append(
            FakeImage(
                path=path,
                media_type=str(source.get("media_type")),
                actual_media_type=actual,
                width=width,
                height=height,
                size=len(data),
                transformations=block.get("transformations"),
            )
        )
    return found


def cache_paths(body: Mapping[str, Any]) -> list[str]:
    """Returns where ``cache_control`` is set (``system.0``, ``messages.0.content.3``...)."""
    paths = []
    for key in ("tools", "system"):
        entries = body.get(key)
        if isinstance(entries, list):
            paths += [
                f"{key}.{i}" for i, entry in enumerate(entries) if isinstance(entry, dict) and "cache_control" in entry
            ]
    paths += [path for path, block in blocks(body) if "cache_control" in block]
    return paths


def requested_schema(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Returns the schema asked for and, in tool mode, the forced tool's name."""
    output_format = (body.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and isinstance(output_format.get("schema"), dict):
        return output_format["schema"], None
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        for tool in body.get("tools") or []:
            if isinstance(tool, dict) and tool.get("name") == choice.get("name"):
                schema = tool.get("input_schema")
                return (schema if isinstance(schema, dict) else None), str(tool["name"])
    return None, None


def skeleton(node: Any, definitions: Mapping[str, Any]) -> Any:
    """Returns the emptiest value that fits a schema node: null where allowed, [] for lists."""
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return skeleton(definitions.get(ref.removeprefix("#/$defs/"), {}), definitions)
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return None if None in node["enum"] else node["enum"][0]
    variants = node.get("anyOf") or node.get("oneOf")
    if isinstance(variants, list) and variants:
        if any(isinstance(v, dict) and v.get("type") == "null" for v in variants):
            return None
        return skeleton(variants[0], definitions)
    kind = node.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            return None
        kind = kind[0] if kind else None
    if kind == "object":
        return {name: skeleton(child, definitions) for name, child in (node.get("properties") or {}).items()}
    defaults: dict[Any, Any] = {"array": [], "string": "", "integer": 0, "number": 0, "boolean": False, "null": None}
    return defaults.get(kind)


def static_prefix(body: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the parts of a request the prompt cache keys on: tools, system and output format."""
    return {
        "tools": body.get("tools"),
        "system": body.get("system"),
        "format": (body.get("output_config") or {}).get("format"),
    }


def estimate_input(body: Mapping[str, Any]) -> tuple[int, int]:
    """Returns (static prefix tokens, total input tokens), estimated like the API would bill them."""
    prefix = math.ceil(len(json_bytes(static_prefix(body))) / 3.5)
    total = prefix
    for _, block in blocks(body):
        kind = block.get("type")
        if kind == "text":
            total += math.ceil(len(str(block.get("text", ""))) / 4) + 3
        elif kind == "image":
            try:
                _, width, height = image_info(base64.b64decode((block.get("source") or {}).get("data") or ""))
            except (binascii.Error, ValueError):
                continue
            total += math.ceil(width * height / 750)
        elif kind == "document":
            total += 2000
        elif kind in ("tool_use", "tool_result"):
            total += math.ceil(len(json.dumps(block)) / 3.5)
    return prefix, total


def json_bytes(value: Any) -> bytes:
    """Serialises ``value`` compactly as UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
