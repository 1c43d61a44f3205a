"""Supporting documents: type from the bytes, size, storage outside the database, access."""

import hashlib
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from p2plend.config import get_settings
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import service as identity
from p2plend.identity.models import User
from p2plend.origination import service as origination
from p2plend.origination.errors import (
    ApplicationNotFound,
    ApplicationStateConflict,
    DocumentNotFound,
    DocumentTooLarge,
    EmptyDocument,
    InvalidApplication,
    UnsupportedDocumentType,
)
from tests import builders
from tests.builders import make_application

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32


def _upload(session: Session, actor: int, application_id: int, data: bytes, **kwargs: object) -> object:
    values: dict[str, object] = {
        "kind": "income_proof",
        "filename": "收入证明.pdf",
        "declared_type": None,
    } | kwargs
    return origination.upload_document(
        session,
        actor_id=actor,
        application_id=application_id,
        data=data,
        **values,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("data", "declared", "content_type", "name"),
    [
        (PDF, "application/pdf", "application/pdf", "收入证明.pdf"),
        (PNG, "image/png", "image/png", "收入证明.png"),
        (JPEG, "image/jpg", "image/jpeg", "收入证明.jpg"),
        (JPEG, None, "image/jpeg", "收入证明.jpg"),
    ],
)
def test_pdf_jpeg_png_are_stored_outside_the_database(
    session: Session,
    borrower: User,
    documents_dir: Path,
    data: bytes,
    declared: str | None,
    content_type: str,
    name: str,
) -> None:
    application = make_application(session, borrower.id)
    document = _upload(session, borrower.id, application.id, data, declared_type=declared)
    assert isinstance(document, origination.DocumentView)
    assert (document.content_type, document.filename, document.size_bytes) == (content_type, name, len(data))
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    view, path = origination.open_document(
        session, viewer_id=borrower.id, application_id=application.id, document_id=document.id
    )
    assert view == document and path.read_bytes() == data
    assert documents_dir in path.parents and "收入证明" not in str(path)  # a random key, not the name
    assert origination.documents_of(session, application.id) == [document]


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (b"GIF89a" + b"\x00" * 16, "image/gif"),
        (b"<html><script>alert(1)</script>", "application/pdf"),  # declared PDF, is not
        (b"MZ\x90\x00 an executable", None),
        (PNG, "application/pdf"),  # a PNG declared as PDF: disagreement refused
    ],
)
def test_the_type_is_sniffed_from_the_bytes_not_the_declaration(
    session: Session, borrower: User, documents_dir: Path, data: bytes, declared: str | None
) -> None:
    application = make_application(session, borrower.id)
    with pytest.raises(UnsupportedDocumentType):
        _upload(session, borrower.id, application.id, data, declared_type=declared)
    assert origination.documents_of(session, application.id) == []
    assert not documents_dir.exists() or not any(p.is_file() for p in documents_dir.rglob("*"))


def test_size_limits(session: Session, borrower: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2PLEND_DOCUMENT_MAX_BYTES", "64")
    get_settings.cache_clear()
    application = make_application(session, borrower.id)
    with pytest.raises(DocumentTooLarge) as refused:
        _upload(session, borrower.id, application.id, PDF + b"\x00" * 64)
    assert refused.value.status == 413 and refused.value.details["max_bytes"] == 64
    with pytest.raises(EmptyDocument):
        _upload(session, borrower.id, application.id, b"")
    with pytest.raises(InvalidApplication):
        _upload(session, borrower.id, application.id, PDF, kind="selfie")


def test_filenames_lose_paths_and_take_the_real_extension() -> None:
    from p2plend.origination.documents import safe_filename

    assert safe_filename("../../etc/passwd", ".pdf") == "passwd.pdf"
    assert safe_filename("C:\\Users\\me\\scan.PNG", ".png") == "scan.png"
    assert safe_filename("evil\x00name<>.jpg.exe", ".jpg") == "evilname.jpg.jpg"
    assert safe_filename("", ".pdf") == "document.pdf"


def test_access_the_applicant_the_referrer_and_reviewers_only(
    session: Session, bank: SimulatedBank, borrower: User
) -> None:
    partner = builders.make_organisation(session, bank)
    application = origination.refer_borrower(
        session,
        partner_id=partner.id,
        borrower_phone=identity.phone_of(session, borrower.id),
        data=builders.application_input(),
        scorer=builders.FixedScorer(),
    )
    by_partner = _upload(session, partner.id, application.id, PDF)
    assert isinstance(by_partner, origination.DocumentView)
    stranger = builders.make_borrower(session, bank)
    with pytest.raises(ApplicationNotFound):
        _upload(session, stranger.id, application.id, PDF)
    with pytest.raises(ApplicationNotFound):
        origination.open_document(
            session, viewer_id=stranger.id, application_id=application.id, document_id=by_partner.id
        )
    for viewer, reviewer in ((borrower.id, False), (partner.id, False), (stranger.id, True)):
        view, _ = origination.open_document(
            session,
            viewer_id=viewer,
            application_id=application.id,
            document_id=by_partner.id,
            reviewer=reviewer,
        )
        assert view.id == by_partner.id
    other = make_application(session, borrower.id, purpose="car")
    with pytest.raises(DocumentNotFound):  # a document of another application
        origination.open_document(
            session, viewer_id=borrower.id, application_id=other.id, document_id=by_partner.id
        )


def test_no_documents_once_the_application_is_closed(session: Session, borrower: User) -> None:
    application = make_application(session, borrower.id)
    origination.cancel(session, borrower_id=borrower.id, application_id=application.id)
    with pytest.raises(ApplicationStateConflict):
        _upload(session, borrower.id, application.id, PDF)
