"""Images shared in a conversation: which models can see them, the bytes of recent ones, and
which turns of a request carry theirs.

The database keeps an image by reference only (platform file id + hash, ``bot.types.Image``):
a screenshot is megabytes, a thread may hold hundreds, and only the newest
``THREADBOT_IMAGE_TURNS`` turns re-send theirs (each re-send is billed as input). The bytes
of recent images stay here, in memory, bounded; an image whose bytes are gone (a restart,
or pushed out by newer ones) is no longer sent — its message still names it.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from fnmatch import fnmatchcase

from bot.types import ChatMessage, Image

CACHE_BYTES = 64 * 1024 * 1024
# What one image sent costs in input tokens, at most, once within 1568 px (adapters/common/
# images.py): Anthropic bills about 1,600 for its largest, OpenAI ~1,100 (high detail).
IMAGE_TOKENS = 1_600


class ImageBytes:
    """The bytes of recently shared images by hash, least recently used dropped first."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def keep(self, images: Sequence[Image]) -> None:
        for image in images:
            if image.data and image.sha256 not in self._data:
                self._data[image.sha256] = image.data
                self._size += len(image.data)
        while self._size > self.limit and self._data:
            _, dropped = self._data.popitem(last=False)
            self._size -= len(dropped)

    def get(self, sha256: str) -> bytes | None:
        data = self._data.get(sha256)
        if data is not None:
            self._data.move_to_end(sha256)
        return data


RECENT = ImageBytes()  # one per process: the engine keeps, the history strategies read


def sees_images(model: str, patterns: str) -> bool:
    """Whether ``model`` is in ``THREADBOT_VISION_MODELS`` (comma-separated, ``*`` wildcards,
    matched against the name without a ``provider/`` prefix)."""
    name = model.lower().rsplit("/", 1)[-1]
    return any(fnmatchcase(name, p.strip().lower()) for p in patterns.split(",") if p.strip())


def with_images(messages: tuple[ChatMessage, ...], turns: int, *, sees: bool,
                cache: ImageBytes = RECENT) -> tuple[ChatMessage, ...]:
    """``messages`` with the bytes of the images of the newest ``turns`` user turns that
    have any (those still in ``cache``); every other turn goes without (text only)."""
    out = list(messages)
    left = turns if sees else 0
    for i in range(len(out) - 1, -1, -1):
        message = out[i]
        if not message.images:
            continue
        found = tuple(replace(im, data=data) for im in message.images
                      if left > 0 and (data := cache.get(im.sha256)) is not None)
        left -= 1 if message.role == "user" else 0
        out[i] = message._replace(images=found)
    return tuple(out)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url(image: Image) -> str:
    """How the OpenAI APIs take an image inline."""
    return f"data:{image.media_type};base64,{b64(image.data)}"


def to_json(images: Sequence[Image]) -> str | None:
    """The stored form: references only, None when there are none."""
    if not images:
        return None
    return json.dumps([{"name": i.name, "media_type": i.media_type, "sha256": i.sha256,
                        "file_id": i.file_id} for i in images])


def from_json(text: str | None) -> tuple[Image, ...]:
    if not text:
        return ()
    return tuple(Image(d["name"], d["media_type"], d["sha256"], d.get("file_id", ""))
                 for d in json.loads(text))
