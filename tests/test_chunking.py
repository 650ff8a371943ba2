"""Long replies split for platforms without breaking paragraphs or code blocks."""

from __future__ import annotations

from adapters.common.chunking import split_text


def test_short_text_is_one_chunk_and_empty_is_none() -> None:
    assert split_text("hello", 100) == ["hello"]
    assert split_text("", 100) == []


def test_prefers_paragraph_boundaries() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 30 for i in range(6)]
    chunks = split_text("\n\n".join(p.strip() for p in paragraphs), 400)
    assert all(len(c) <= 400 for c in chunks)
    assert all(c.startswith("Paragraph") for c in chunks)
    assert "\n\n".join(chunks).replace("\n\n", " ").split() == " ".join(paragraphs).split()


def test_code_block_cut_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"    print({i})" for i in range(300))
    text = f"Here you go:\n\n```python\n{code}\n```\n\nDone."
    chunks = split_text(text, 1000)
    assert len(chunks) > 2
    for chunk in chunks:
        assert len(chunk) <= 1000
        assert chunk.count("```") % 2 == 0, "every chunk renders its code as code"
    for chunk in chunks[1:-1]:
        assert chunk.startswith("```python\n")
    body = "".join(chunks)
    assert all(f"print({i})" in body for i in range(300))


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    chunks = split_text("x" * 250, 100)
    assert len(chunks) == 3 and all(len(c) <= 100 for c in chunks)
    assert "".join(chunks) == "x" * 250
