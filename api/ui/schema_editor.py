"""The JSON Schema editor's server half: a tool's input or output schema checked as it is typed (HTMX),
by the domain's own rules for tool schemas (``domain.values`` over ``domain.json_schema``), so the editor
and the create/update use cases refuse exactly the same schemas, with the same words. Writes nothing."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from ledgergate.api.json_limits import BadJson, decode_json
from ledgergate.api.ui.plumbing import posted
from ledgergate.api.ui.render import html
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.values import check_input_schema, check_output_schema

__all__ = ["check_schema", "schema_problem_of"]

CHECKS = {"input_schema": check_input_schema, "output_schema": check_output_schema}


def schema_problem_of(field: str, raw: str) -> str | None:
    """Why the tool would refuse ``raw`` as its ``field`` (``input_schema``, ``output_schema``), or None."""
    text = raw.strip()
    if not text:
        return None if field == "output_schema" else f"{field}: a JSON Schema is required"
    try:
        schema = decode_json(text.encode())
    except BadJson as exc:
        return f"{field}: not valid JSON ({exc})"
    try:
        CHECKS[field](schema)
    except InvalidValueError as exc:
        return str(exc)
    return None


@post("/schema/check", include_in_schema=False, status_code=200)
async def check_schema(request: Request[Any, Any, Any]) -> Response[str]:
    """The partial under a schema field: its problem, or that it is valid. Editors only, like the forms."""
    user, form = await posted(request)
    user.principal.allow(user.principal.tenant_id, "editor")
    field = str(form.get("schema_field", ""))
    if field not in CHECKS:
        return html("schema_check.html", 422, field=field, problem="schema_field: input_schema or output_schema")
    raw = form.get(field)
    problem = schema_problem_of(field, raw if isinstance(raw, str) else "")
    return html("schema_check.html", field=field, problem=problem)
