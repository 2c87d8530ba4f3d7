"""The resource form: its fields, and content typed as text or uploaded as a file (multipart). An uploaded
file becomes ``text`` when it is UTF-8 text of a textual type, else a base64 ``blob``; its type fills the
MIME type left empty. Editing a binary resource without a new file keeps its content."""

from __future__ import annotations

import base64
from typing import Any

from ledgergate.api.schemas import ResourceCreate, ResourceUpdate
from ledgergate.api.ui.catalog_forms import FormSpec
from ledgergate.api.ui.form_kit import tags_of, text_of, uploaded

__all__ = ["RESOURCE_FORM"]

TEXTUAL = ("application/json", "application/xml", "application/yaml", "application/javascript", "image/svg+xml")
BLANK = {
    "uri": "",
    "name": "",
    "title": "",
    "description": "",
    "mime_type": "",
    "tags": "",
    "text": "",
    "stored": "text",
    "blob_size": "",
}
FIELDS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("uri", "URI", "input", {"help": "How clients name it, e.g. docs://handbook/intro"}),
    ("name", "Name", "input", {}),
    ("title", "Title", "input", {}),
    ("description", "Description", "textarea", {"rows": 3}),
    ("mime_type", "MIME type", "input", {"help": "Empty: the uploaded file's type, or text/plain"}),
    ("tags", "Tags (comma separated)", "input", {}),
    ("text", "Content (text)", "textarea", {"rows": 10}),
    ("file", "Or upload the content", "file", {"help": "A file replaces the text above"}),
    ("stored", "", "hidden", {}),
)


def _textual(mime: str) -> bool:
    return mime.startswith("text/") or mime.split(";", 1)[0].strip() in TEXTUAL or mime.endswith("+json")


def form_of(item: dict[str, Any]) -> dict[str, str]:
    blob = item.get("blob")
    return {
        "uri": item.get("uri") or "",
        "name": item.get("name") or "",
        "title": item.get("title") or "",
        "description": item.get("description") or "",
        "mime_type": item.get("mime_type") or "",
        "tags": ", ".join(item.get("tags") or []),
        "text": item.get("text") or "",
        "stored": "blob" if blob else "text",
        "blob_size": str(len(base64.b64decode(blob))) if blob else "",
    }


def body_of(form: dict[str, Any], editing: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uri": text_of(form, "uri") or "",
        "name": text_of(form, "name") or "",
        "title": text_of(form, "title"),
        "description": text_of(form, "description"),
        "tags": tags_of(form),
    }
    mime = text_of(form, "mime_type")
    upload = uploaded(form, "file")
    if upload is not None:
        content, sent_type = upload
        mime = mime or sent_type or "application/octet-stream"
        try:
            text = content.decode("utf-8") if _textual(mime) else None
        except UnicodeDecodeError:
            text = None
        # one of the two: the registry clears the other
        if text is not None:
            body["text"] = text
        else:
            body["blob"] = base64.b64encode(content).decode("ascii")
    elif not (editing and form.get("stored") == "blob"):
        raw = form.get("text")
        body["text"] = raw.replace("\r\n", "\n") if isinstance(raw, str) and raw else None
    if mime:
        body["mime_type"] = mime
    return body


RESOURCE_FORM = FormSpec(
    kind="resource",
    plural="resources",
    fields=FIELDS,
    blank=BLANK,
    form_of=form_of,
    body_of=body_of,
    create_body=ResourceCreate,
    update_body=ResourceUpdate,
    multipart=True,
)
