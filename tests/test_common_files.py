"""What a shared file becomes, by its bytes (adapters/common/extract.py, images.py): the
cases a user meets that the end-to-end tests do not spell out."""

from __future__ import annotations

import io

from PIL import Image as Pil

from adapters.common.extract import read_file
from tests.sample_files import PNG_SMALL, png, text_pdf


def encoded(kind: str, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Pil.new(mode, size).save(out, kind)
    return out.getvalue()


def test_every_image_format_the_providers_take_is_an_image_whatever_its_name() -> None:
    for kind, media in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"),
                        ("WEBP", "image/webp")):
        read = read_file("untitled.bin", encoded(kind), 100, file_id="F1")
        assert read.text == "[image: untitled.bin]"
        assert read.image is not None and read.image.media_type == media
        assert read.image.file_id == "F1" and len(read.image.sha256) == 64


def test_a_large_transparent_image_stays_png_and_within_the_long_edge() -> None:
    read = read_file("logo.png", encoded("PNG", (3000, 1000), "RGBA"), 100)
    assert read.image is not None and read.image.media_type == "image/png"
    assert Pil.open(io.BytesIO(read.image.data)).size == (1568, 523)


def test_a_broken_image_or_pdf_is_a_note_not_an_error() -> None:
    assert read_file("cut.png", PNG_SMALL[:40], 100).text == (
        "[attachment: cut.png — an image that could not be read]")
    assert read_file("bad.pdf", b"%PDF-1.4\n garbage", 100).text == (
        "[attachment: bad.pdf — a PDF whose text could not be read]")
    assert read_file("x.pdf", text_pdf(), 100).text == (
        "[attachment: x.pdf — a PDF with no text (scanned?)]")


def test_text_in_any_encoding_is_read_and_a_binary_file_is_not() -> None:
    assert read_file("notes.txt", "\ufeffcafé\r\nnaïve".encode(), 100).text == (
        "[file: notes.txt]\ncafé\nnaïve\n[end of file: notes.txt]")
    assert read_file("latin.txt", "café".encode("latin-1"), 100).text == (
        "[file: latin.txt]\ncaf\ufffd\n[end of file: latin.txt]")
    assert read_file("a.out", b"\x7fELF\x02\x01\x01\x00" + bytes(100), 100).text == (
        "[attachment: a.out — a binary file, not read]")
    assert read_file("two\nlines.md", png(), 100).text == "[image: two lines.md]"
