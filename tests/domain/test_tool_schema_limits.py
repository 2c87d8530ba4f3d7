"""A tool's JSON Schemas are refused when checking them, or checking arguments against them, could recurse
without end, exhaust the stack or fetch a reference; every accepted schema checks any value safely."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ledgergate.api.json_limits import MAX_JSON_DEPTH
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.json_schema import MAX_SCHEMA_DEPTH, MAX_VALIDATION_DEPTH, MAX_VALUE_DEPTH, schema_problem
from ledgergate.domain.values import check_input_schema, check_output_schema

#: How deep the stack already is where the gateway checks a call's arguments, with room to spare.
CALLER_FRAMES = 200


def nested_properties(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def nested_items(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"items": schema}
    return {"type": "object", "properties": {"list": schema}}


JSON_VALUE = {
    "type": "object",
    "properties": {"value": {"$ref": "#/$defs/v"}},
    "$defs": {
        "v": {
            "anyOf": [
                {"type": ["string", "number", "boolean", "null"]},
                {"type": "array", "items": {"$ref": "#/$defs/v"}},
                {"type": "object", "additionalProperties": {"$ref": "#/$defs/v"}},
            ]
        }
    },
}
TREE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
}

REFUSED = {
    "an $id that is not a URI": {"type": "object", "$id": "http://[::1"},
    "a $ref that is not a URI": {"type": "object", "properties": {"a": {"$ref": "http://[::1"}}},
    "100 levels of properties (under 4 KB)": nested_properties(100),
    "one level past the schema depth": nested_items(MAX_SCHEMA_DEPTH - 2),
    "30 levels of properties (under the body depth)": nested_properties(30),
    "a $ref to itself through $defs": {"type": "object", "$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    "a $ref to the root at the root": {"type": "object", "$ref": "#"},
    "a cycle through allOf and anyOf": {
        "type": "object",
        "allOf": [{"$ref": "#/$defs/b"}],
        "$defs": {"b": {"anyOf": [{"not": {"$ref": "#"}}]}},
    },
    "a cycle through if/then": {"type": "object", "if": {"$ref": "#/$defs/t"}, "$defs": {"t": {"then": {"$ref": "#"}}}},
    "a $dynamicRef cycle": {"type": "object", "$dynamicAnchor": "n", "allOf": [{"$dynamicRef": "#n"}]},
    "a remote $ref": {"type": "object", "properties": {"a": {"$ref": "http://169.254.169.254/latest/schema.json"}}},
    "a $ref to the metaschema": {"type": "object", "$ref": "https://json-schema.org/draft/2020-12/schema"},
    "a dangling pointer": {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
    "a missing anchor": {"type": "object", "properties": {"a": {"$ref": "#nowhere"}}},
    "a $ref to something that is not a schema": {"type": "object", "required": ["a"], "$ref": "#/required"},
    "a chain longer than the validation depth": {
        "type": "object",
        "properties": {"v": {"$ref": "#/$defs/d0"}},
        "$defs": {f"d{n}": {"allOf": [{"$ref": f"#/$defs/d{n + 1}"}]} for n in range(MAX_VALIDATION_DEPTH)}
        | {f"d{MAX_VALIDATION_DEPTH}": {"type": "string"}},
    },
    "recursive branches that make the work exponential": {
        "type": "object",
        "properties": {"a": {"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}},
    },
    "recursion that costs too much per level": {
        "type": "object",
        "properties": {"a": {"allOf": [{"allOf": [{"allOf": [{"allOf": [{"allOf": [{"$ref": "#"}]}]}]}]}]}},
    },
}
ACCEPTED = {
    "a plain object": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "30 levels of items": nested_items(30),
    "items up to the schema depth": nested_items(MAX_SCHEMA_DEPTH - 3),
    "23 levels of properties": nested_properties(23),
    "15 levels of properties": nested_properties(15),
    "a recursive tree": TREE,
    "any JSON value": JSON_VALUE,
    "an anchor": {
        "type": "object",
        "$defs": {"x": {"$anchor": "x", "type": "string"}},
        "properties": {"a": {"$ref": "#x"}},
    },
    "an embedded $id": {
        "$id": "https://schemas.example/root",
        "type": "object",
        "$defs": {"x": {"$id": "x.json", "type": "string"}},
        "properties": {"a": {"$ref": "x.json"}},
    },
    "a $dynamicRef that steps into the value": {
        "type": "object",
        "$dynamicAnchor": "node",
        "properties": {"next": {"$dynamicRef": "#node"}},
    },
}


#: The member names the schemas here recurse through.
KEYS = ("a", "value", "children", "list", "next")


def deep_value(levels: int, leaf: Any, key: str) -> Any:
    """A value nesting ``levels`` objects (with one member, ``key``) and arrays, alternating."""
    value = leaf
    for n in range(levels):
        value = [value] if n % 2 else {key: value}
    return value


def on_a_deep_stack(frames: int, action: Callable[[], Any]) -> Any:
    """Run ``action`` below ``frames`` frames of our own, as deep as a real request's stack or deeper."""
    if frames == 0:
        return action()
    return on_a_deep_stack(frames - 1, action)


def check_every_depth(schema: dict[str, Any], depths: tuple[int, ...] = (1, 2, 8, 31, 32, 63, 64)) -> None:
    validator = Draft202012Validator(schema)
    for levels in depths:
        for leaf, key in itertools.product(("x", None, {}), KEYS):
            value = deep_value(levels, leaf, key)
            on_a_deep_stack(CALLER_FRAMES, lambda: list(validator.iter_errors(value)))  # noqa: B023 - called at once


def test_the_value_depth_is_the_body_depth_limit() -> None:
    assert MAX_VALUE_DEPTH == MAX_JSON_DEPTH
    assert MAX_SCHEMA_DEPTH < MAX_JSON_DEPTH - 2  # so a schema can be refused by its own limit, in a body
    assert sys.getrecursionlimit() >= 1000


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_schema_that_could_recurse_without_end_or_fetch_is_refused_with_the_reason(case: str) -> None:
    for check in (check_input_schema, check_output_schema):
        with pytest.raises(InvalidValueError) as raised:
            check(REFUSED[case])
        assert "is not a valid JSON Schema" in str(raised.value)


def test_the_reasons_name_the_limits() -> None:
    assert str(MAX_SCHEMA_DEPTH) in str(schema_problem(nested_properties(100)))
    assert "fetched" in str(schema_problem(REFUSED["a remote $ref"]))
    assert "never end" in str(schema_problem(REFUSED["a $ref to itself through $defs"]))
    assert "exponential" in str(schema_problem(REFUSED["recursive branches that make the work exponential"]))
    assert str(MAX_VALIDATION_DEPTH) in str(schema_problem(REFUSED["recursion that costs too much per level"]))


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_an_accepted_schema_checks_values_as_deep_as_a_body_may_nest(case: str) -> None:
    assert check_input_schema(ACCEPTED[case]) == ACCEPTED[case]
    assert on_a_deep_stack(CALLER_FRAMES, lambda: schema_problem(ACCEPTED[case])) is None
    check_every_depth(ACCEPTED[case])


# -- any schema the rules accept checks any value without recursing out of the stack or fetching ---------------

REF_NAMES = ["#", "#/$defs/a", "#/$defs/b", "#/$defs/c"]


def schemas(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    in_place = st.sampled_from(["allOf", "anyOf", "oneOf"])
    return st.one_of(
        st.builds(lambda k, s: {k: s}, in_place, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda s: {"not": s}, children),
        st.builds(lambda s, t: {"if": s, "then": t}, children, children),
        st.builds(lambda s: {"properties": {"a": s}}, children),
        st.builds(lambda s: {"items": s}, children),
        st.builds(lambda s: {"additionalProperties": s}, children),
        st.builds(lambda s: {"prefixItems": [s]}, children),
        st.builds(lambda s: {"unevaluatedProperties": s}, children),
    )


LEAVES = st.one_of(
    st.sampled_from([{"type": "string"}, {"type": "object"}, {"type": "array"}, True, {}]),
    st.builds(lambda ref: {"$ref": ref}, st.sampled_from(REF_NAMES)),
)
SUBSCHEMAS = st.recursive(LEAVES, schemas, max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=SUBSCHEMAS, a=SUBSCHEMAS, b=SUBSCHEMAS, c=SUBSCHEMAS)
def test_every_schema_the_rules_accept_checks_deep_values_safely(root: Any, a: Any, b: Any, c: Any) -> None:
    schema = {**(root if isinstance(root, dict) else {}), "type": "object", "$defs": {"a": a, "b": b, "c": c}}
    if schema_problem(schema) is None:
        check_every_depth(schema, (1, 5, MAX_VALUE_DEPTH))
