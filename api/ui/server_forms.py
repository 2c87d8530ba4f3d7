"""The virtual server form: its name, description and tags. Its members are added and removed in the
composer on its page."""

from __future__ import annotations

from typing import Any

from ledgergate.api.schemas import ServerCreate, ServerUpdate
from ledgergate.api.ui.catalog_forms import FormSpec
from ledgergate.api.ui.form_kit import tags_of, text_of

__all__ = ["SERVER_FORM"]

BLANK = {"name": "", "description": "", "tags": ""}
FIELDS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("name", "Name", "input", {}),
    ("description", "Description", "textarea", {"rows": 3}),
    ("tags", "Tags (comma separated)", "input", {}),
)


def form_of(item: dict[str, Any]) -> dict[str, str]:
    return {
        "name": item.get("name") or "",
        "description": item.get("description") or "",
        "tags": ", ".join(item.get("tags") or []),
    }


def body_of(form: dict[str, Any], editing: bool) -> dict[str, Any]:
    return {"name": text_of(form, "name") or "", "description": text_of(form, "description"), "tags": tags_of(form)}


SERVER_FORM = FormSpec(
    kind="server",
    plural="servers",
    fields=FIELDS,
    blank=BLANK,
    form_of=form_of,
    body_of=body_of,
    create_body=ServerCreate,
    update_body=ServerUpdate,
    notes={"after": "Add its tools, resources, prompts and upstreams in the composer on its page."},
)
