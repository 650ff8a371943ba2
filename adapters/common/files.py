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
from dataclasses import dataclass

import aiohttp
from yarl import URL

from adapters.common.extract import FileRead, is_html, read_file
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


class FileReader:
    """Downloads with the caps from ``FileSettings``. ``headers`` (Slack: the bot token) go
    only to ``hosts``: a file address elsewhere is fetched without them, so a token never
    leaves the platform it belongs to."""

    def __init__(self, settings: FileSettings, *, headers: Mapping[str, str] | None = None,
                 hosts: Collection[str] = (), seconds: float | None = None) -> None:
        self.settings = settings
        self.headers = dict(headers or {})
        self.hosts = frozenset(hosts)
        self.seconds = settings.file_seconds if seconds is None else min(seconds, settings.file_seconds)

    async def read(self, files: Sequence[SharedFile]) -> list[FileRead]:
        """What the model reads of each file, in order (see ``extract.read_file``)."""
        if not any(f.url for f in files):
            return [FileRead(attachment_line(f.name)) for f in files]
        timeout = aiohttp.ClientTimeout(total=self.seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return list(await asyncio.gather(*(self._read(session, f) for f in files)))

    async def _read(self, session: aiohttp.ClientSession, shared: SharedFile) -> FileRead:
        text = await self._fetch(session, shared)
        if isinstance(text, bytes):  # decoding a PDF or an image: not on the event loop
            return await asyncio.to_thread(read_file, shared.name, text,
                                           self.settings.file_tokens, file_id=shared.file_id)
        return FileRead(text)

    async def _fetch(self, session: aiohttp.ClientSession, shared: SharedFile) -> bytes | str:
        """The file's bytes, or the ``[attachment: …]`` line saying why there are none."""
        if not shared.url:
            return attachment_line(shared.name)
        cap = self.settings.file_bytes
        if shared.size > cap:
            return attachment_line(shared.name, f"too large to read ({_mb(shared.size)}; "
                                                f"the limit is {_mb(cap)})")
        try:
            data = await self._download(session, shared.url, cap)
        except TimeoutError:
            return attachment_line(shared.name, "the download took too long")
        except _Refused as exc:
            return attachment_line(shared.name, str(exc))
        except (aiohttp.ClientError, ValueError) as exc:
            log.info("could not download a shared file (%s)", type(exc).__name__)
            return attachment_line(shared.name, "it could not be downloaded")
        if is_html(data) and not shared.html:
            # Slack answers a request it does not accept with its sign-in page, status 200
            return attachment_line(shared.name, "the bot was not allowed to download it")
        return data

    async def _download(self, session: aiohttp.ClientSession, url: str, cap: int) -> bytes:
        """The body, read no further than ``cap`` bytes (a declared size can lie)."""
        headers = self.headers if URL(url).host in self.hosts else None
        async with session.get(url, headers=headers) as response:
            if response.status in (401, 403, 404):
                raise _Refused("the bot was not allowed to download it"
                               if response.status != 404 else "it is no longer there")
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
