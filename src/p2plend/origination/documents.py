"""Supporting documents of an application (申请材料): PDF, JPEG or PNG, stored outside the database.

The type is what the first bytes say (magic numbers), whatever the upload declares; a
declared type that disagrees is refused. Files live under ``settings.documents_dir`` at a
random storage key (never the uploaded name), with their SHA-256 kept beside the row.
Who may upload and read: the applicant, their referring partner, and staff who review
applications; anyone else is told the application does not exist.

A file is written before its row is flushed: if the transaction then rolls back, an
orphan file (unreachable: no row names its key) is left behind for a sweep to remove.
"""

import hashlib
import os
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import Settings, get_settings
from p2plend.origination import applications
from p2plend.origination.errors import (
    DocumentNotFound,
    DocumentTooLarge,
    EmptyDocument,
    InvalidApplication,
    UnsupportedDocumentType,
)
from p2plend.origination.models import ApplicationDocument
from p2plend.origination.vocabulary import ACTIVE_STATUSES, DOCUMENT_KINDS

# Magic numbers → the content type we record and serve.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
# Declared types a client may send besides the real one (browsers vary).
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}
_UNDECLARED = {"", "application/octet-stream"}
MAX_FILENAME = 120


@dataclass(frozen=True, slots=True)
class DocumentView:
    id: int
    application_id: int
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: int
    created_at: datetime


def _view(row: ApplicationDocument) -> DocumentView:
    return DocumentView(
        id=row.id,
        application_id=row.application_id,
        kind=row.kind,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        uploaded_by=row.uploaded_by,
        created_at=row.created_at,
    )


def sniff(data: bytes) -> tuple[str, str] | None:
    """``(content type, extension)`` from the file's first bytes, or None."""
    for magic, content_type, extension in SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    return None


def safe_filename(name: str, extension: str) -> str:
    """A display name without paths or control characters, ending in the real extension."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C" and ch not in '<>:"|?*').strip(
        " ."
    )
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return (stem[: MAX_FILENAME - len(extension)] or "document") + extension


def _path(settings: Settings, storage_key: str) -> Path:
    return Path(settings.documents_dir) / storage_key[:2] / storage_key


def upload(
    session: Session,
    *,
    actor_id: int,
    application_id: int,
    kind: str,
    filename: str,
    declared_type: str | None,
    data: bytes,
    reviewer: bool = False,
    settings: Settings | None = None,
) -> DocumentView:
    """Attach a document to an application still under way."""
    settings = settings or get_settings()
    application = applications.visible(session, application_id, actor_id, reviewer=reviewer)
    applications.require_status(application, ACTIVE_STATUSES, "add documents to")
    if kind not in DOCUMENT_KINDS:
        raise InvalidApplication(
            f"A document kind is one of {', '.join(DOCUMENT_KINDS)}.", details={"field": "kind"}
        )
    if not data:
        raise EmptyDocument("The file is empty.")
    if len(data) > settings.document_max_bytes:
        raise DocumentTooLarge(
            "The file is too large.", details={"max_bytes": settings.document_max_bytes, "size": len(data)}
        )
    sniffed = sniff(data)
    declared = (declared_type or "").split(";")[0].strip().lower()
    declared = _ALIASES.get(declared, declared)
    if sniffed is None or (declared not in _UNDECLARED and declared != sniffed[0]):
        raise UnsupportedDocumentType(
            "Upload a PDF, JPEG or PNG file.",
            details={"declared": declared or None, "detected": None if sniffed is None else sniffed[0]},
        )
    content_type, extension = sniffed
    storage_key = secrets.token_hex(16)
    path = _path(settings, storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as out:  # never overwrite
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    row = ApplicationDocument(
        application_id=application.id,
        uploaded_by=actor_id,
        kind=kind,
        filename=safe_filename(filename, extension),
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=storage_key,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    applications.record(
        session,
        actor_id,
        "application.document_added",
        application,
        document_id=row.id,
        kind=kind,
        content_type=content_type,
        size=len(data),
        sha256=row.sha256,
    )
    return _view(row)


def documents_of(session: Session, application_id: int) -> list[DocumentView]:
    rows = session.scalars(
        select(ApplicationDocument)
        .where(ApplicationDocument.application_id == application_id)
        .order_by(ApplicationDocument.id)
    ).all()
    return [_view(row) for row in rows]


def open_document(
    session: Session,
    *,
    viewer_id: int,
    application_id: int,
    document_id: int,
    reviewer: bool = False,
    settings: Settings | None = None,
) -> tuple[DocumentView, Path]:
    """A document the viewer may read and the path of its file (the caller streams it)."""
    settings = settings or get_settings()
    applications.visible(session, application_id, viewer_id, reviewer=reviewer)
    row = session.scalars(
        select(ApplicationDocument).where(
            ApplicationDocument.id == document_id, ApplicationDocument.application_id == application_id
        )
    ).one_or_none()
    if row is None:
        raise DocumentNotFound("No such document.", details={"document_id": document_id})
    path = _path(settings, row.storage_key)
    if not path.is_file():
        raise DocumentNotFound("The document's file is missing.", details={"document_id": document_id})
    return _view(row), path
