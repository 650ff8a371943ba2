"""Downloading shared files (adapters/common/files.py) the way an operator's network needs:
through the proxy the environment names, over one kept-alive session per adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.common.files import FileReader, SharedFile
from bot.config import FileSettings


class FileServer:
    """Serves ``/<name>`` with the name's bytes; records each request's target and the
    client's port (one port per TCP connection)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append((str(request.url), peer[1] if peer else 0))
        return web.Response(body=f"contents of {request.path}".encode())


@pytest.fixture
async def server() -> AsyncIterator[FileServer]:
    served = FileServer()
    app = web.Application()
    app.router.add_get("/{name}", served.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield served
    await runner.cleanup()


def reader() -> FileReader:
    return FileReader(FileSettings(_env_file=None))  # type: ignore[call-arg]


async def test_downloads_go_through_the_proxy_the_environment_names(
    server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # files.example.invalid resolves nowhere: only the proxy (the loopback server) can answer
    monkeypatch.setenv("HTTP_PROXY", server.url)
    files = reader()
    try:
        [read] = await files.read([SharedFile("notes.txt", url="http://files.example.invalid/notes.txt")])
    finally:
        await files.aclose()

    assert read.text == ("[file: notes.txt]\ncontents of /notes.txt\n[end of file: notes.txt]")
    assert [target for target, _ in server.seen] == ["http://files.example.invalid/notes.txt"]


async def test_downloads_of_several_messages_share_one_kept_alive_connection(
    server: FileServer,
) -> None:
    files = reader()
    try:
        for name in ("a.txt", "b.txt", "c.txt"):  # three messages, one file each
            await files.read([SharedFile(name, url=f"{server.url}/{name}")])
    finally:
        await files.aclose()

    assert len(server.seen) == 3 and len({port for _, port in server.seen}) == 1
