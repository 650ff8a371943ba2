"""Long replies split for platforms without breaking paragraphs or code blocks."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.common.chunking import open_fence, split_text


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


@pytest.mark.parametrize("limit", [2_000, 3_500])
@pytest.mark.parametrize("marker", [c * n for c in "`~" for n in range(3, 9)])
def test_no_chunk_exceeds_the_limit_whatever_the_fence(limit: int, marker: str) -> None:
    """A ```` fence needs five characters to close (newline + four backticks), not four."""
    code = "\n".join(f"x{i:03d} = compute(a, b)  # step" for i in range(300))
    for shift in range(40):  # every position of the cut against the code's line ends
        text = f"Intro{'.' * shift}\n\n{marker}python\n{code}\n{marker}\n\nAfter."
        chunks = split_text(text, limit)
        assert all(len(c) <= limit for c in chunks), max(len(c) for c in chunks)
        assert all(open_fence(c) is None for c in chunks), "every chunk closes its code block"
        assert all(c.startswith(f"{marker}python\n") for c in chunks[1:-1])


_WORD = st.text(alphabet="abcxyz<>&*_`~()", min_size=1, max_size=12)
_PROSE = st.lists(_WORD, min_size=1, max_size=60).map(" ".join)
_CODE = st.builds(
    lambda char, n, info, lines, closed: "\n".join(
        [char * n + info, *lines, *([char * n] if closed else [])]
    ),
    st.sampled_from("`~"),
    st.integers(3, 8),
    st.sampled_from(["", "python", ' python title="x.py"', "js {1,3}"]),
    st.lists(st.text(alphabet="abc ()=+-#<>&", max_size=40), max_size=40),
    st.booleans(),
)
_MARKDOWN = st.lists(st.one_of(_PROSE, _CODE), min_size=1, max_size=8).map("\n\n".join)


def _content(text: str) -> str:
    """The text without whitespace and fence markers: what a split must keep, in order."""
    return re.sub(r"\s|[`~]{3,}", "", text)


def _kept_in_order(original: str, chunks: str) -> bool:
    """Every character of ``original`` is in ``chunks``, in order (a split only adds the
    info strings of the fences it reopens)."""
    remaining = iter(chunks)
    return all(char in remaining for char in original)


@settings(max_examples=300, deadline=None)
@given(_MARKDOWN, st.integers(80, 600))
def test_split_text_keeps_every_chunk_in_the_limit_and_all_the_text(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    assert _kept_in_order(_content(text), _content("\n".join(chunks)))
    if open_fence(text) is None:  # every block closed in the reply: closed in each chunk too
        assert all(open_fence(c) is None for c in chunks)
