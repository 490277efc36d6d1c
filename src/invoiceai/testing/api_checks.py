"""The checks the real Messages API makes on a request body, as the fake makes them.

:func:`check_request` returns the rejection the API would send (status, error type, message,
details), or ``None`` for a request it would accept, and how many images it would silently
downsize. Limits: 32 MB body, 100 images, 5 MB and 8000 px per image, 2000 px per side when a
request has more than 20 images, 4 cache breakpoints, declared media types matching the bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from invoiceai.testing.request_body import FakeImage, blocks, cache_paths, images, requested_schema

__all__ = ["FakeModel", "Rejection", "check_request"]

_MAX_IMAGE_BYTES = 5 * 1024 * 1024
_MAX_SIDE = 8000
_MANY_IMAGES = 20
_MANY_IMAGES_MAX_SIDE = 2000
_MAX_IMAGES = 100
_MAX_BODY_BYTES = 32 * 1024 * 1024
_MAX_CACHE_BREAKPOINTS = 4


@dataclasses.dataclass(frozen=True)
class FakeModel:
    """What the fake model accepts.

    Attributes:
        structured_outputs: Whether ``output_config.format`` is supported.
        pdf_input: Whether PDF document blocks are accepted.
        max_tokens_limit: Largest ``max_tokens`` accepted.
        max_image_side: Images with a longer side are refused when sent with
            ``transformations.oversized_image == "error"``, else downsized.
    """

    structured_outputs: bool = True
    pdf_input: bool = True
    max_tokens_limit: int = 64_000
    max_image_side: int | None = None


@dataclasses.dataclass(frozen=True)
class Rejection:
    """An error the API answers with.

    Attributes:
        status: HTTP status.
        error_type: ``error.type``.
        message: ``error.message``.
        details: ``error.details`` (carries ``error_code``).
    """

    status: int
    error_type: str
    message: str
    details: Mapping[str, Any] | None = None


def check_request(body: Mapping[str, Any], size: int, model: FakeModel) -> tuple[Rejection | None, int]:
    """Checks a ``POST /v1/messages`` body of ``size`` bytes as the API would for ``model``.

    Returns:
        The rejection (or ``None``) and how many images would be downsized on the server.
    """
    if size > _MAX_BODY_BYTES:
        return Rejection(413, "request_too_large", f"request body is {size} bytes; the limit is 32 MB"), 0
    message = _envelope_problem(body, model)
    if message is not None:
        return _invalid(message), 0
    return _check_images(body, model)


def _envelope_problem(body: Mapping[str, Any], model: FakeModel) -> str | None:
    # Everything but the images: model, max_tokens, messages, cache breakpoints, output format.
    if not isinstance(body.get("model"), str):
        return "model: field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: must be a positive integer"
    if max_tokens > model.max_tokens_limit:
        return f"max_tokens: {max_tokens} > {model.max_tokens_limit}, the maximum for this model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if len(cache_paths(body)) > _MAX_CACHE_BREAKPOINTS:
        return "A maximum of 4 blocks with cache_control may be provided."
    schema, tool_name = requested_schema(body)
    output_format = (body.get("output_config") or {}).get("format")
    if output_format is not None:
        if not model.structured_outputs:
            return "output_config.format: structured outputs are not supported by this model"
        if output_format.get("type") != "json_schema" or not isinstance(schema, dict):
            return "output_config.format: expected {'type': 'json_schema', 'schema': {...}}"
    if body.get("tool_choice") and tool_name is None:
        return "tool_choice: names a tool that is not in tools"
    if isinstance(schema, dict) and schema.get("type") != "object":
        return "schema: the root must be an object"
    for block_path, block in blocks(body):
        if block.get("type") == "document" and not model.pdf_input:
            return f"{block_path}: this model does not accept PDF documents"
    return None


def _check_images(body: Mapping[str, Any], model: FakeModel) -> tuple[Rejection | None, int]:
    found = images(body)
    unreadable = next((image for image in found if isinstance(image, str)), None)
    if unreadable is not None:
        return _invalid(unreadable), 0
    checked = [image for image in found if isinstance(image, FakeImage)]
    if len(checked) > _MAX_IMAGES:
        return _invalid(f"Too many images: {len(checked)} > {_MAX_IMAGES}"), 0
    for image in checked:
        message = _image_problem(image)
        if message is not None:
            return _invalid(message), 0
    if len(checked) > _MANY_IMAGES:
        # With many images the side limit is hard: no transformation makes it pass.
        over = [image.path for image in checked if max(image.width, image.height) > _MANY_IMAGES_MAX_SIDE]
        if over:
            return _image_too_large(_MANY_IMAGES_MAX_SIDE, over), 0
    limit = model.max_image_side
    if limit is None:
        return None, 0
    oversized = [image for image in checked if max(image.width, image.height) > limit]
    refused = [image.path for image in oversized if (image.transformations or {}).get("oversized_image") == "error"]
    if refused:
        return _image_too_large(limit, refused), 0
    return None, len(oversized)


def _image_problem(image: FakeImage) -> str | None:
    if image.actual_media_type != image.media_type:
        return (
            f"{image.path}.source: the image was specified using the {image.media_type} media type, "
            f"but the image appears to be a {image.actual_media_type} image"
        )
    if image.size > _MAX_IMAGE_BYTES:
        return f"{image.path}.source.base64: image exceeds 5 MB maximum: {image.size} bytes"
    if max(image.width, image.height) > _MAX_SIDE:
        return f"{image.path}: image dimensions exceed max allowed size: {_MAX_SIDE} pixels"
    return None


def _invalid(message: str) -> Rejection:
    return Rejection(400, "invalid_request_error", message)


def _image_too_large(limit: int, paths: list[str]) -> Rejection:
    return Rejection(
        400,
        "invalid_request_error",
        f"One or more images exceed the maximum side length of {limit} pixels.",
        {"error_code": "image_dimensions_too_large", "max_side_length_pixels": limit, "paths": paths},
    )
