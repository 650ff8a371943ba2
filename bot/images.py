"""Images shared in a conversation: which models can see them, the bytes of recent ones, and
which turns of a request carry theirs.

The database keeps an image by reference only (platform file id + hash + where it was
served, ``bot.types.Image``): a screenshot is megabytes, a thread may hold hundreds, and only
the newest ``THREADBOT_IMAGE_TURNS`` turns re-send theirs (each re-send is billed as input).
The bytes of recent images stay in memory, bounded, per engine (``Images``); an image whose
bytes are gone — a restart, pushed out by newer ones, or shared through another replica — is
fetched again from its platform (``bot.ports.ImageSource``) and sent only if its hash still
matches. An image that cannot be fetched again is named with a short note instead: the turn
is answered all the same.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from bot.types import ChatMessage, Image

if TYPE_CHECKING:  # the providers and the stores import this module: no ports for them
    from bot.ports import ImageSource

log = logging.getLogger(__name__)

CACHE_BYTES = 64 * 1024 * 1024
# What one image sent costs in input tokens, at most, once within 1568 px (adapters/common/
# images.py): Anthropic bills about 1,600 for its largest, OpenAI ~1,100 (high detail).
IMAGE_TOKENS = 1_600
NO_SOURCE = "it could not be fetched again"
CHANGED = "it has changed since it was shared"


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


class Images:
    """One engine's images: the bytes of recent ones, and each platform's way to fetch one
    again by its reference (registered by the adapter that serves the platform)."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.recent = ImageBytes(limit)
        self._sources: dict[str, ImageSource] = {}

    def keep(self, images: Sequence[Image]) -> None:
        self.recent.keep(images)

    def fetch_from(self, platform: str, source: ImageSource) -> None:
        """Images shared on ``platform`` are fetched again through ``source``."""
        self._sources[platform] = source

    async def filled(self, platform: str, messages: tuple[ChatMessage, ...]
                     ) -> tuple[ChatMessage, ...]:
        """``messages`` with the bytes of the images they refer to: kept ones, else fetched
        again from ``platform``. One that cannot be (gone, changed, no source) leaves its
        message, which says so in a short note."""
        wanted = {im.sha256: im for m in messages for im in m.images
                  if not im.data and self.recent.get(im.sha256) is None}
        found = await asyncio.gather(*(self._fetch(platform, im) for im in wanted.values()))
        fetched = dict(zip(wanted, found, strict=True))
        return tuple(self._with_bytes(m, fetched) if m.images else m for m in messages)

    def _with_bytes(self, message: ChatMessage, fetched: dict[str, bytes | str]) -> ChatMessage:
        sent: list[Image] = []
        notes: list[str] = []
        for image in message.images:
            data = image.data or fetched.get(image.sha256) or self.recent.get(image.sha256)
            if isinstance(data, bytes) and data:
                sent.append(replace(image, data=data))
            else:
                notes.append(f"[image: {' '.join(image.name.split())} — not sent: "
                             f"{data or NO_SOURCE}]")
        content = "\n".join([message.content, *notes]) if notes else message.content
        return message._replace(content=content, images=tuple(sent))

    async def _fetch(self, platform: str, image: Image) -> bytes | str:
        """``image``'s bytes fetched again (and kept), or why not."""
        source = self._sources.get(platform)
        if source is None:
            return NO_SOURCE
        try:
            data = await source.fetch_image(image)
        except Exception:  # a source never raises; if one does, the turn still goes on
            log.exception("fetching a shared image again failed")
            return NO_SOURCE
        if isinstance(data, str):
            return data
        if hashlib.sha256(data).hexdigest() != image.sha256:
            log.info("a shared image changed since it was shared; not sent")
            return CHANGED
        self.recent.keep([replace(image, data=data)])
        return data


def sees_images(model: str, patterns: str) -> bool:
    """Whether ``model`` is in ``THREADBOT_VISION_MODELS`` (comma-separated, ``*`` wildcards,
    matched against the name without a ``provider/`` prefix)."""
    name = model.lower().rsplit("/", 1)[-1]
    return any(fnmatchcase(name, p.strip().lower()) for p in patterns.split(",") if p.strip())


def with_images(messages: tuple[ChatMessage, ...], turns: int, *, sees: bool
                ) -> tuple[ChatMessage, ...]:
    """``messages`` with the images (references) of the newest ``turns`` user turns that
    have any; every other turn goes without (text only). ``Images.filled`` adds the bytes."""
    out = list(messages)
    left = turns if sees else 0
    for i in range(len(out) - 1, -1, -1):
        message = out[i]
        if not message.images:
            continue
        out[i] = message._replace(images=message.images if left > 0 else ())
        left -= 1 if message.role == "user" else 0
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
                        "file_id": i.file_id, **({"url": i.url} if i.url else {})}
                       for i in images])


def from_json(text: str | None) -> tuple[Image, ...]:
    if not text:
        return ()
    return tuple(Image(d["name"], d["media_type"], d["sha256"], d.get("file_id", ""),
                       url=d.get("url", "")) for d in json.loads(text))
