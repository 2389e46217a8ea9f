"""An example task package: thumbnails of PNG images, with a pure-Python dependency (pypng).

Deploy it beside the platform with `make up TASK_PACKAGE=$PWD/examples/thumbnails` (or `make deploy ENV=dev
TASK_PACKAGE=...`); importing this package registers the `thumbnail` task type in both runtimes.
"""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import png  # pypng, from this package's requirements.txt

from tasklane.errors import NonRetryableTaskFailure
from tasklane.registry import TaskContext, registry

MAX_SOURCE_PIXELS = 4_000_000


@registry.task("thumbnail")
def thumbnail(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Shrink a PNG (`png_base64`, or a generated test card of `width` x `height`) to fit `max_side`."""
    width, height, rows = _source(payload)
    max_side = _positive(payload, "max_side", 64)
    scale = min(1.0, max_side / max(width, height))
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    ctx.report_progress(0.5, f"{width}x{height} -> {out_w}x{out_h}")
    # Nearest neighbour: enough for a preview, and no native image library needed.
    small = [[rows[y * height // out_h][x * width // out_w] for x in range(out_w)] for y in range(out_h)]
    buffer = io.BytesIO()
    png.Writer(out_w, out_h, greyscale=True).write(buffer, small)
    data = buffer.getvalue()
    return {"width": out_w, "height": out_h, "sha256": hashlib.sha256(data).hexdigest(),
            "png_base64": base64.b64encode(data).decode()}


def _source(payload: dict[str, Any]) -> tuple[int, int, list[list[int]]]:
    if "png_base64" in payload:
        try:
            reader = png.Reader(bytes=base64.b64decode(payload["png_base64"], validate=True))
            width, height, pixels, info = reader.asDirect()
        except (ValueError, png.Error) as exc:
            raise NonRetryableTaskFailure(f"payload.png_base64 is not a PNG: {exc}") from exc
        _check_size(width, height)
        planes, top = info["planes"], 2 ** info["bitdepth"] - 1
        # The first channel, at 8 bits, stands for the pixel: a greyscale preview.
        return width, height, [[value * 255 // top for value in row[::planes]] for row in pixels]
    width, height = _positive(payload, "width", 256), _positive(payload, "height", 256)
    _check_size(width, height)
    return width, height, [[(x * 255 // max(1, width - 1)) ^ (y & 0xFF) for x in range(width)] for y in range(height)]


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_SOURCE_PIXELS:
        raise NonRetryableTaskFailure(f"the image is {width}x{height}; at most {MAX_SOURCE_PIXELS} pixels")


def _positive(payload: dict[str, Any], key: str, default: int) -> int:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NonRetryableTaskFailure(f"payload.{key} must be a positive integer")
    return value
