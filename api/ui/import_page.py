"""Import an export from the UI (platform admins, as ``POST /v1/events/import``): upload a file, see it
verified (format, header, hash chain, count: ``ledgergate events verify``) with a dry run of the import
(restore or merge, what would be imported, skipped or clash), then import it with the same use case
(``ArchiveService.import_bytes``) in one transaction.

The verified file travels back with the confirming form (the gateway keeps no upload between requests,
so any worker serves either step); the import verifies it again as it writes, and refuses a file whose
digest differs from the one verified.

A data key a file carries is not opened here: that needs its passphrase, which is typed only into the
CLI or sent to the REST API (``X-Ledgergate-Passphrase``), never into a page. The events are imported
and the report says the tenant's secrets stay unreadable until its key is restored that way."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile

from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.plumbing import BodyTooLarge, posted, run, runtime, too_large, viewer
from ledgergate.api.ui.render import html
from ledgergate.application.errors import ApplicationError, ValidationError
from ledgergate.application.event_archive import ArchiveError, verify_lines

__all__ = ["import_file", "import_page", "verify_file"]


def digest_of(lines: list[bytes]) -> str:
    """The SHA-256 of the file's lines (line endings normalised: a browser resends a form's text with CRLF)."""
    return hashlib.sha256(b"\n".join(line.rstrip(b"\r") for line in lines)).hexdigest()


async def _uploaded(form: dict[str, Any]) -> bytes:
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        return await upload.read()
    raise ValidationError("file: choose an export file (.jsonl) to upload", field="file")


def _verify(request: Request[Any, Any, Any], body: bytes) -> dict[str, Any]:
    lines = body.splitlines()
    try:
        header, count = verify_lines(lines)
    except ArchiveError as exc:
        return {"intact": False, "problem": str(exc), "count": 0, "header": {}, "report": None}
    report = runtime(request).archive.import_bytes(body, True, None)
    return {"intact": True, "problem": None, "count": count, "header": header, "report": report}


def _page(user: UiUser, status: int = 200, **context: Any) -> Response[str]:
    base = {"stage": "upload", "checked": None, "archive": "", "digest": "", "error": None, "done": None}
    return html("import.html", status, user=user, tenant=user.principal.tenant_id, **{**base, **context})


@get("/import", include_in_schema=False)
async def import_page(request: Request[Any, Any, Any]) -> Response[str]:
    user = await viewer(request)
    user.principal.allow(None, "platform-admin")
    return _page(user)


@post("/import/verify", include_in_schema=False)
async def verify_file(request: Request[Any, Any, Any]) -> Response[str]:
    try:
        user, form = await posted(request)
    except BodyTooLarge:  # the upload page again, with the limit and the way around it; nothing was read
        user = await viewer(request)
        user.principal.allow(None, "platform-admin")
        instead = (
            "Import it on the gateway's host with `ledgergate events import FILE` (add `--dry-run` to see its "
            "report first), which streams the file and is not bound by this limit."
        )
        return _page(user, 413, error=too_large(request, instead).detail)
    user.principal.allow(None, "platform-admin")
    body = await _uploaded(form)
    checked = await run(_verify, request, body)
    if not checked["intact"]:
        return _page(user, 422, stage="refused", checked=checked)
    text = body.decode()  # verified: valid UTF-8 throughout
    return _page(user, stage="verified", checked=checked, archive=text, digest=digest_of(body.splitlines()))


@post("/import", include_in_schema=False)
async def import_file(request: Request[Any, Any, Any]) -> Response[str]:
    user, form = await posted(request)
    user.principal.allow(None, "platform-admin")
    body = str(form.get("archive") or "").encode()
    if not body.strip():
        raise ValidationError("archive: upload and verify a file first", field="archive")
    if digest_of(body.splitlines()) != str(form.get("digest") or ""):
        return _page(user, 422, error="The file is not the one that was verified; upload it again.")
    try:
        report = await run(runtime(request).archive.import_bytes, body, False, None)
    except ApplicationError as exc:
        if exc.problem == "forbidden":
            raise
        return _page(user, 422, error=exc.detail)
    status = 409 if report["conflicts"] else 200
    return _page(user, status, stage="imported", done=report)
