"""load_json walks a parsed body only when its text could hold a NUL or nest too deep: it refuses exactly
what the full walk refuses, for any JSON text in any of the encodings json.loads accepts."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.json_body import MAX_DEPTH, BodyError, check_value, load_json

texts = st.lists(st.sampled_from(["a", "é", "\x00", "\\", '"', "u0000", "[", "{", "€"]), max_size=6).map("".join)
values = st.recursive(st.none() | st.booleans() | st.integers() | texts,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                      max_leaves=60)


def _nested(value, depth: int):
    for _ in range(depth):
        value = [value]
    return value


def _refusal(call) -> tuple[str, str] | None:
    try:
        call()
    except BodyError as exc:
        return exc.message, exc.field
    return None


@settings(max_examples=400, deadline=None)
@given(value=values, depth=st.integers(0, MAX_DEPTH + 2), ensure_ascii=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_the_shortcut_refuses_what_the_walk_refuses(value, depth, ensure_ascii, encoding):
    value = _nested(value, depth)
    raw = json.dumps(value, ensure_ascii=ensure_ascii).encode(encoding)
    assert _refusal(lambda: load_json(raw)) == _refusal(lambda: check_value(value))
