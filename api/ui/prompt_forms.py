"""The prompt form: its template and arguments, and a live preview rendered from sample arguments by the
same renderer ``prompts/get`` uses (sandboxed, with its time and size limits)."""

from __future__ import annotations

from typing import Any

from litestar import Request

from ledgergate.api.schemas import PromptCreate, PromptUpdate
from ledgergate.api.ui.catalog_forms import FormSpec
from ledgergate.api.ui.form_kit import lines_of, pairs_of, tags_of, text_of
from ledgergate.application.errors import ValidationError
from ledgergate.application.prompt_rendering import PromptRenderer

__all__ = ["PROMPT_FORM", "arguments_of"]

BLANK = {
    "name": "",
    "title": "",
    "description": "",
    "tags": "",
    "template": "",
    "arguments": "",
    "sample": "",
}
FIELDS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("name", "Name", "input", {}),
    ("title", "Title", "input", {}),
    ("description", "Description", "textarea", {"rows": 2}),
    ("tags", "Tags (comma separated)", "input", {}),
    ("template", "Template (Jinja: {{ argument }})", "textarea", {"rows": 8}),
    (
        "arguments",
        "Arguments",
        "textarea",
        {"rows": 3, "help": "One a line: name, a * after it when required, then : and a description"},
    ),
    ("sample", "Sample arguments for the preview", "textarea", {"rows": 3, "help": "One a line: name=value"}),
)


def arguments_of(form: dict[str, Any]) -> list[dict[str, Any]]:
    """``city*: The city`` lines as prompt arguments. Raises: ValidationError naming the line."""
    arguments = []
    for number, line in enumerate(lines_of(form, "arguments"), start=1):
        name, _, description = line.partition(":")
        name = name.strip()
        required = name.endswith("*")
        name = name.rstrip("*").strip()
        if not name:
            raise ValidationError(f"arguments: line {number} names no argument", field="arguments")
        arguments.append({"name": name, "description": description.strip() or None, "required": required})
    return arguments


def _line(argument: dict[str, Any]) -> str:
    head = argument["name"] + ("*" if argument.get("required") else "")
    return f"{head}: {argument['description']}" if argument.get("description") else head


def form_of(item: dict[str, Any]) -> dict[str, str]:
    return {
        "name": item.get("name") or "",
        "title": item.get("title") or "",
        "description": item.get("description") or "",
        "tags": ", ".join(item.get("tags") or []),
        "template": item.get("template") or "",
        "arguments": "\n".join(_line(a) for a in item.get("arguments") or []),
        "sample": "",
    }


def body_of(form: dict[str, Any], editing: bool) -> dict[str, Any]:
    template = form.get("template")
    return {
        "name": text_of(form, "name") or "",
        "title": text_of(form, "title"),
        "description": text_of(form, "description"),
        "tags": tags_of(form),
        "template": template.replace("\r\n", "\n") if isinstance(template, str) else "",
        "arguments": arguments_of(form),
    }


def renderer(request: Request[Any, Any, Any]) -> PromptRenderer:
    """The renderer of this process's MCP methods: one pool and one set of limits for both."""
    return request.app.state.mcp.gateway.methods.renderer  # type: ignore[no-any-return]


def preview(request: Request[Any, Any, Any], fields: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """The ``prompts/get`` result for the sample arguments. Raises: ValidationError (as ``prompts/get`` does)."""
    sample = pairs_of(form, "sample", "=")
    return {"preview": renderer(request).render(fields, sample)}


PROMPT_FORM = FormSpec(
    kind="prompt",
    plural="prompts",
    fields=FIELDS,
    blank=BLANK,
    form_of=form_of,
    body_of=body_of,
    create_body=PromptCreate,
    update_body=PromptUpdate,
    preview=preview,
)
