"""A downloaded file → what the model reads of it, the same on every platform.

The kind of a file is decided by its bytes, never by its name or the type the platform
declares: a ``.txt`` that is a PNG is an image, a ``.png`` that is text is text, and a
sign-in page served instead of the file is caught by the download (``files.py``).

Text-like files (code, Markdown, CSV, JSON, logs, plain text) and the text of PDFs become
one labelled block in the message, cut to a per-file token cap: the message is stored with
the block, so it is counted in the context budget like anything the user typed. Images
(PNG, JPEG, GIF, WebP) are checked and downscaled with Pillow to what every provider takes,
and named in the text (``[image: name]``); other binary files are named with a short note.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

from adapters.common.images import prepared_image
from adapters.common.text import attachment_line, file_title, sanitized
from bot.tokens import TokenCounter
from bot.types import Image

log = logging.getLogger(__name__)

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
_SNIFF = 8192  # bytes looked at to tell text from binary
# control characters other than tab, newline, carriage return and form feed: binary
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_COUNTER: TokenCounter | None = None


def image_kind(data: bytes) -> str | None:
    """"PNG", "JPEG", "GIF" or "WebP" when ``data`` is such an image, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), None)


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-")


def is_html(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


@dataclass(frozen=True, slots=True)
class FileRead:
    """What a shared file adds to its message: a line or block of text, and maybe an image."""

    text: str
    image: Image | None = None


def read_file(name: str, data: bytes, max_tokens: int, *, file_id: str = "") -> FileRead:
    """``file_block``, and for an image the image itself, ready to send."""
    if image_kind(data) is None:
        return FileRead(file_block(name, data, max_tokens))
    image = prepared_image(name, data, file_id=file_id)
    if image is None:
        return FileRead(attachment_line(name, "an image that could not be read"))
    return FileRead(f"[image: {file_title(name)}]", image)


def file_block(name: str, data: bytes, max_tokens: int) -> str:
    """What the model reads for the file ``name`` with content ``data``: a labelled text
    block cut to ``max_tokens``, or one ``[attachment: …]`` line saying why it has none."""
    kind = image_kind(data)
    if kind is not None:
        return f"[image: {file_title(name)}]"
    if is_pdf(data):
        text = pdf_text(data)
        if text is None:
            return attachment_line(name, "a PDF whose text could not be read")
        if not text.strip():
            return attachment_line(name, "a PDF with no text (scanned?)")
    elif _BINARY.search(data[:_SNIFF]):
        return attachment_line(name, "a binary file, not read")
    else:
        text = data.decode("utf-8-sig", errors="replace")
    return labelled(name, text, max_tokens)


def labelled(name: str, text: str, max_tokens: int) -> str:
    """``text`` between a header and a footer naming the file, so the model can tell where
    the user's words end and the file begins (and which file, when there are several)."""
    counter = _counter()
    text = sanitized(text.replace("\r\n", "\n")).strip("\n")
    title = file_title(name)
    cut = counter.truncate(text, max_tokens)
    header = f"[file: {title}]"
    if len(cut) < len(text):
        header = f"[file: {title} — only its first {max_tokens} tokens]"
    return f"{header}\n{cut}\n[end of file: {title}]"


def pdf_text(data: bytes) -> str | None:
    """The text of a PDF's pages, or None when pypdf cannot read it (damaged, encrypted)."""
    from pypdf import PdfReader  # only when a PDF is shared
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        log.info("a shared PDF could not be read (%s)", type(exc).__name__)
        return None


def _counter() -> TokenCounter:
    """cl100k: the per-file cap is a cost bound, not the thread model's exact count (the
    engine counts the stored message with the thread's own tokenizer)."""
    global _COUNTER
    if _COUNTER is None:
        _COUNTER = TokenCounter("")
    return _COUNTER
