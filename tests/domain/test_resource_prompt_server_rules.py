"""Rules of resources, prompts and virtual servers, and the shared value rules they use."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ledgergate.domain.envelope import recording
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.values import check_resource_content, check_tags
from ledgergate.domain.virtual_server import MAX_MEMBERS, VirtualServer
from tests.domain.builders import ENVELOPE, new_prompt, new_resource


def test_resource_content_needs_exactly_one_of_text_and_blob() -> None:
    for text, blob in ((None, None), ("hello", base64.b64encode(b"hello").decode())):
        with pytest.raises(InvalidValueError) as raised:
            check_resource_content(text, blob, 100)
        assert raised.value.field == "content"


def test_a_resource_blob_must_be_strict_base64() -> None:
    for blob in ("not base64!", "YWJj\n", "YQ", "YW-j"):
        with pytest.raises(InvalidValueError) as raised:
            check_resource_content(None, blob, 100)
        assert raised.value.field == "blob"


def test_resource_content_size_is_measured_in_bytes_of_the_decoded_content() -> None:
    assert check_resource_content("é" * 5, None, 10) == ("é" * 5, None)
    with pytest.raises(InvalidValueError, match="11 bytes"):
        check_resource_content("é" * 5 + "x", None, 10)
    ten_bytes = base64.b64encode(b"0123456789").decode()
    assert check_resource_content(None, ten_bytes, 10) == (None, ten_bytes)
    with pytest.raises(InvalidValueError, match="over the limit"):
        check_resource_content(None, ten_bytes, 9)


def test_a_resource_is_unique_by_uri_and_its_mime_type_defaults_to_text_plain() -> None:
    resource = new_resource()

    assert resource.unique_name == "file:///readme.md"
    assert resource.mime_type == "text/plain"


@pytest.mark.parametrize("uri", ["readme.md", "file: spaced", "", "x" * 2049])
def test_a_resource_uri_must_be_absolute(uri: str) -> None:
    with pytest.raises(InvalidValueError) as raised:
        new_resource(uri=uri)
    assert raised.value.field == "uri"


@pytest.mark.parametrize(
    "template",
    ["Hello {{ who", "{% if who %}hi", "{% for %}{% endfor %}", "{{ who }} {% endif %}", "", "   ", 7],
)
def test_a_prompt_template_with_a_syntax_error_or_no_text_is_refused(template: Any) -> None:
    with pytest.raises(InvalidValueError) as raised:
        new_prompt(template=template)
    assert raised.value.field == "template"


def test_a_prompt_template_error_names_the_line() -> None:
    with pytest.raises(InvalidValueError, match="line 2"):
        new_prompt(template="Hello\n{{ who ")


@pytest.mark.parametrize(
    "arguments",
    ["who", [{"name": "not an identifier"}], [{"description": "no name"}], [{"name": "a"}, {"name": "a"}]],
)
def test_prompt_arguments_need_distinct_identifier_names(arguments: Any) -> None:
    with pytest.raises(InvalidValueError) as raised:
        new_prompt(arguments=arguments)
    assert raised.value.field == "arguments"


def test_prompt_arguments_are_normalised() -> None:
    prompt = new_prompt(arguments=[{"name": "who", "required": 1}, {"name": "tone", "description": "how"}])

    assert prompt.arguments == [
        {"name": "who", "description": None, "required": True},
        {"name": "tone", "description": "how", "required": False},
    ]


def test_removing_the_template_of_a_prompt_without_a_source_is_refused() -> None:
    prompt = new_prompt()

    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        prompt.update({"template": None})

    assert raised.value.field == "template"
    assert prompt.template == "Hello {{ who }}"
    assert prompt.version == 1


def test_a_virtual_server_name_is_a_slug_and_its_members_are_deduplicated_and_sorted() -> None:
    fields = {"name": "research", "tool_ids": ["t2", "t1", "t2"]}
    with recording(ENVELOPE):
        server = VirtualServer(fields=VirtualServer.normalise({**VirtualServer.DEFAULTS, **fields}))

    assert server.tool_ids == ["t1", "t2"]
    assert server.resource_ids == []
    for bad in ({"name": "Research"}, {"name": "-research"}, {"tool_ids": "t1"}, {"prompt_ids": [1]}):
        with pytest.raises(InvalidValueError):
            VirtualServer.normalise(bad)
    with pytest.raises(InvalidValueError, match=str(MAX_MEMBERS)):
        VirtualServer.normalise({"tool_ids": [f"t{i}" for i in range(MAX_MEMBERS + 1)]})


def test_tags_are_deduplicated_and_sorted_and_malformed_tags_are_refused() -> None:
    assert check_tags(["web", "api", "web"]) == ["api", "web"]
    for bad in ("web", ["has space"], [""], ["x" * 65], [3]):
        with pytest.raises(InvalidValueError) as raised:
            check_tags(bad)
        assert raised.value.field == "tags"
