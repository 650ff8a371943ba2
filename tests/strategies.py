"""Hypothesis strategies for hostile input on any platform: text with the characters that
break chat bots, and arbitrary JSON values."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# A lone surrogate (valid JSON "\ud800", but not encodable as UTF-8, so SQLite and every
# HTTP client refuse it), NUL, right-to-left override and mark, zero-width joiner and space,
# a BOM, emoji, a combining mark, line breaks, and the characters of chat markup.
ODD_CHARS = ("\ud800", "\udfff", "\x00", "\u202e", "\u200f", "\u200d", "\u200b", "\ufeff",
             "👩", "💻", "\u0301", "\t", "\n", "\r", " ", "<", ">", "@", "&", "|", "#", "!", ":")
odd_text = st.text(alphabet=st.characters() | st.sampled_from(ODD_CHARS), max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(st.text(max_size=8) | st.sampled_from(("type", "text", "ts")),
                               json_values, max_size=6)
