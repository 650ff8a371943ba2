"""A shared image made fit for every provider, with Pillow.

The limits that bind (Dec 2026): Anthropic takes at most 5 MB per image (base64) and scales
anything over ~1568 px on the long edge down itself, billing the upload either way; OpenAI
takes up to 20 MB and scales to 2048 px, then 768 px on the short edge. So an image over
1568 px or 3.5 MB is scaled here to 1568 px on the long edge and re-encoded: the same
picture the model would see, in fewer bytes and tokens.
"""

from __future__ import annotations

import hashlib
import io
import logging

from PIL import Image as Pil
from PIL import UnidentifiedImageError

from bot.types import Image

log = logging.getLogger(__name__)

MAX_EDGE = 1568
MAX_BYTES = 3_500_000  # 5 MB once base64-encoded (Anthropic's limit), with room to spare
_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
Pil.MAX_IMAGE_PIXELS = 64_000_000  # a larger "image" is a decompression bomb, not a screenshot


def prepared_image(name: str, data: bytes, *, file_id: str = "") -> Image | None:
    """``data`` as an Image to send (downscaled when over the limits), or None when Pillow
    cannot read it (damaged, truncated, a bomb, or not one of the four formats)."""
    try:
        with Pil.open(io.BytesIO(data)) as picture:
            picture.load()
            kind = picture.format or ""
            if kind not in _TYPES:
                return None
            if max(picture.size) > MAX_EDGE or len(data) > MAX_BYTES:
                data, kind = _smaller(picture)
    except (UnidentifiedImageError, OSError, ValueError, Pil.DecompressionBombError) as exc:
        log.info("a shared image could not be read (%s)", type(exc).__name__)
        return None
    return Image(name, _TYPES[kind], hashlib.sha256(data).hexdigest(), file_id, data)


def _smaller(picture: Pil.Image) -> tuple[bytes, str]:
    """The picture within MAX_EDGE: PNG while it keeps transparency and fits, else JPEG."""
    picture = picture.copy()
    picture.thumbnail((MAX_EDGE, MAX_EDGE))
    if picture.mode in ("RGBA", "LA", "P"):
        out = io.BytesIO()
        picture.save(out, "PNG", optimize=True)
        if out.tell() <= MAX_BYTES:
            return out.getvalue(), "PNG"
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue(), "JPEG"
