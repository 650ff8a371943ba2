"""Downloading the files shared with a message, the same on every platform: Slack's
``url_private`` (with the bot token), Discord's attachment URLs (signed, no token).

Whatever goes wrong — too large, too slow, refused, not there — the file becomes a short
note in the message (``[attachment: name — why]``), never a failed turn: the user still gets
an answer, and the model knows a file was shared that it could not read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import aiohttp
from yarl import URL

from adapters.common.extract import FileRead, is_html, read_file
from adapters.common.images import prepared_image
from adapters.common.text import attachment_line
from bot.config import FileSettings

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file as the platform announced it."""

    name: str
    url: str = ""  # "" when the platform gave no address: the file is only named
    size: int = 0  # the declared size in bytes; 0 when unknown
    html: bool = False  # the file itself is an HTML page (not a sign-in page served instead)
    file_id: str = ""  # the platform's id (what an image is stored by, with its hash)


class _Refused(Exception):
    """A download that is not the file: the note says why."""


REFUSED = "the bot was not allowed to download it"
GONE = "it is no longer there"


class FileReader:
    """Downloads with the caps from ``FileSettings``. ``headers`` (Slack: the bot token) go
    only to ``hosts``: a file address elsewhere is fetched without them, so a token never
    leaves the platform it belongs to.

    One aiohttp session per reader (per adapter), opened on first use and kept: downloads
    reuse its keep-alive connections. It honours ``HTTP(S)_PROXY`` and ``NO_PROXY`` from the
    environment (``trust_env``), as the platform SDKs' own clients honour the proxy."""

    def __init__(self, settings: FileSettings, *, headers: Mapping[str, str] | None = None,
                 hosts: Collection[str] = (), seconds: float | None = None) -> None:
        self.settings = settings
        self.headers = dict(headers or {})
        self.hosts = frozenset(hosts)
        self.seconds = settings.file_seconds if seconds is None else min(seconds, settings.file_seconds)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=True)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def read(self, files: Sequence[SharedFile], *, seconds: float | None = None
                   ) -> list[FileRead]:
        """What the model reads of each file, in order (see ``extract.read_file``); each
        download within ``seconds`` (the reader's own by default)."""
        if not any(f.url for f in files):
            return [FileRead(attachment_line(f.name)) for f in files]
        limit = self._limit(seconds)
        return list(await asyncio.gather(*(self._read(f, limit) for f in files)))

    async def image(self, name: str, url: str, *, seconds: float | None = None) -> bytes | str:
        """An image shared before, downloaded again and prepared as when it was shared (the
        same bytes, so the same hash); else why not (``GONE``, ``REFUSED``, …)."""
        data = await self._fetch(SharedFile(name, url=url), self._limit(seconds))
        if isinstance(data, str):
            return data
        image = await asyncio.to_thread(prepared_image, name, data)
        return "it is not an image any more" if image is None else image.data

    def _limit(self, seconds: float | None) -> float:
        return self.seconds if seconds is None else max(0.05, min(seconds, self.settings.file_seconds))

    async def _read(self, shared: SharedFile, seconds: float) -> FileRead:
        data = await self._fetch(shared, seconds)
        if isinstance(data, str):
            return FileRead(attachment_line(shared.name, data))
        # decoding a PDF or an image: not on the event loop
        read = await asyncio.to_thread(read_file, shared.name, data, self.settings.file_tokens,
                                       file_id=shared.file_id)
        if read.image is not None:  # where to fetch it again, once its bytes are gone
            read = replace(read, image=replace(read.image, url=shared.url))
        return read

    async def _fetch(self, shared: SharedFile, seconds: float) -> bytes | str:
        """The file's bytes, or a short phrase saying why there are none ("" when the
        platform gave no address: the file is only named)."""
        if not shared.url:
            return ""
        cap = self.settings.file_bytes
        if shared.size > cap:
            return f"too large to read ({_mb(shared.size)}; the limit is {_mb(cap)})"
        try:
            data = await self._download(shared.url, cap, seconds)
        except TimeoutError:
            return "the download took too long"
        except _Refused as exc:
            return str(exc)
        except (aiohttp.ClientError, ValueError) as exc:
            log.info("could not download a shared file (%s)", type(exc).__name__)
            return "it could not be downloaded"
        if is_html(data) and not shared.html:
            # Slack answers a request it does not accept with its sign-in page, status 200
            return REFUSED
        return data

    async def _download(self, url: str, cap: int, seconds: float) -> bytes:
        """The body, read no further than ``cap`` bytes (a declared size can lie)."""
        headers = self.headers if URL(url).host in self.hosts else None
        timeout = aiohttp.ClientTimeout(total=seconds)
        async with self.session().get(url, headers=headers, timeout=timeout) as response:
            if response.status in (401, 403, 404):
                raise _Refused(REFUSED if response.status != 404 else GONE)
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                data += chunk
                if len(data) > cap:
                    raise _Refused(f"too large to read (over {_mb(cap)})")
            return bytes(data)


def _mb(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{-(-size // 1_000)} KB"
