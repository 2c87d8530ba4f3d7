"""Untrusted JSON: invalid UTF-8, deep nesting and malformed bodies are one clean error."""

from __future__ import annotations

import pytest

from ledgergate.api.json_limits import MAX_JSON_DEPTH, BadJson, decode_json, json_depth


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\xff"}',
        b"\xff\xfe",
        b"[" * 1000 + b"]" * 1000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1),
        b"{",
        b"",
    ],
)
def test_a_bad_body_is_refused_with_bad_json(body: bytes) -> None:
    with pytest.raises(BadJson):
        decode_json(body)


def test_a_body_at_the_depth_limit_is_decoded() -> None:
    body = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert json_depth(decode_json(body)) == MAX_JSON_DEPTH


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = b'{"text": "' + b"[{" * 500 + b'"}'
    assert decode_json(body) == {"text": "[{" * 500}


def test_depth_counts_the_deepest_branch() -> None:
    assert json_depth({"a": [1, {"b": []}], "c": 2}) == 4
    assert json_depth(3) == 0
