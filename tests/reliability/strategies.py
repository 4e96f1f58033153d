"""Hypothesis strategies for what people (and scripts) type into forms, URLs and request bodies."""

import json

from hypothesis import strategies as st

# Text with the characters that break things: NUL, RTL marks, markup, quotes, newlines. (A lone surrogate cannot
# travel in UTF-8; its escaped JSON form and invalid UTF-8 bytes are tried where they can arrive.)
NASTY_CHARS = st.sampled_from(["\x00", "\u202e", "<", ">", "'", '"', "&", "\\", "\n", "%", "\ufeff", "😀"])
nasty_text = st.lists(st.one_of(st.characters(exclude_categories=("Cs",)), NASTY_CHARS), max_size=40).map("".join)
numberish = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "0", "-1", "1e400", "NaN", "inf", "٣", "²", "1_000", " 7 ", "0x10", "9" * 40]),
)
anything = st.one_of(nasty_text, numberish, st.text(st.characters(exclude_categories=("Cs",)), max_size=200))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=20,
)


def deep(depth: int, opening="[", closing="]") -> str:
    return opening * depth + closing * depth


raw_json_inputs = st.one_of(
    json_values.map(json.dumps),
    st.dictionaries(nasty_text, json_values, max_size=5).map(json.dumps),
    st.integers(min_value=1, max_value=3000).map(lambda n: '{"a": ' + deep(n) + "}"),
    st.sampled_from(
        [
            '{"a": NaN}',
            '{"a": Infinity}',
            '{"a": 1e999}',
            '{"a": "\\u0000"}',
            '{"a": "\\ud800"}',
            '{"\\u0000": 1}',
            '{"a": ' + "9" * 5000 + "}",
            "{}",
            '{"a": 1',
            "[1, 2]",
            "null",
            '"string"',
            "",
        ]
    ),
    nasty_text,
)

url_like = st.one_of(
    st.sampled_from(
        [
            "",
            "javascript:alert(1)",
            "http://",
            "https://example.com/hook",
            "http://user:pw@example.com/",
            "ftp://x",
            "//example.com",
            "https://exa mple.com",
            "https://example.com/" + "a" * 2000,
            "http://[::1",
            "http://\x00.example",
        ]
    ),
    anything,
)
query_values = st.lists(anything, min_size=1, max_size=3)
