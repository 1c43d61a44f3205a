"""Origination's business acts: the only module the API, the pages, the CLI and other
domains import (besides ``schemas`` and ``vocabulary`` for their shapes and words).

Products and their versions (``products``), the LPR and the legal cost cap R29 (``lpr``),
applications and their automatic rules and scoring (``applications``), review, four-eyes
and listing (``review``), documents (``documents``), the blacklist (``blacklist``).
Acts take the ``Session`` first and only flush.
"""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from p2plend.identity import service as identity
from p2plend.origination.applications import (
    ApplicationInput,
    CapPosition,
    CollateralInput,
    Scorer,
    apply_online,
    cancel,
    cap_position,
    collateral_of,
    credit_decisions,
    enter_offline,
    features_of,
    for_review,
    of_borrower,
    of_partner,
    refer_borrower,
    resubmit,
    reveals_forbidden_purpose,
    visible,
)
from p2plend.origination.applications import get as get_application
from p2plend.origination.blacklist import BlacklistView
from p2plend.origination.blacklist import add_entry as add_blacklist_entry
from p2plend.origination.blacklist import entries as blacklist_entries
from p2plend.origination.blacklist import remove_entry as remove_blacklist_entry
from p2plend.origination.documents import DocumentView, documents_of, open_document, sniff
from p2plend.origination.documents import upload as upload_document
from p2plend.origination.lpr import LprView, add_lpr, annualised_cost, legal_cap, lpr_history, lpr_on
from p2plend.origination.lpr import plain as plain_rate
from p2plend.origination.models import (
    ApplicationDecision,
    Collateral,
    CreditDecision,
    FieldVerification,
    LoanApplication,
)
from p2plend.origination.products import (
    GradeTerms,
    ProductTerms,
    ProductView,
    VersionView,
    add_version,
    check_terms,
    create_product,
    default_grades,
    list_products,
    product_view,
    version_terms,
)
from p2plend.origination.review import (
    Decision,
    decide,
    decisions_of,
    disclosure_of,
    field_verifications_of,
    latest_field_verification,
    needs_field_verification,
    needs_four_eyes,
    record_field_verification,
)


@dataclass(frozen=True, slots=True)
class ApplicationDetail:
    """Everything a reviewer sees of one application (personal data masked)."""

    application: LoanApplication
    product: ProductView
    version: VersionView
    borrower: identity.Profile
    partner_name: str | None
    guarantor_name: str | None
    collateral: Collateral | None
    credit_decisions: list[CreditDecision]
    field_verifications: list[FieldVerification]
    decisions: list[ApplicationDecision]
    documents: list[DocumentView]
    needs_field_verification: bool
    needs_four_eyes: bool


def application_detail(session: Session, application_id: int) -> ApplicationDetail:
    application = get_application(session, application_id)
    product, version, terms = version_terms(session, application.product_version_id)
    view = product_view(session, product.code, with_history=True)
    [this_version] = [v for v in view.versions if v.id == version.id]
    partner = None if application.partner_id is None else identity.profile(session, application.partner_id)
    guarantor = (
        None if application.guarantor_id is None else identity.profile(session, application.guarantor_id)
    )
    return ApplicationDetail(
        application=application,
        product=view,
        version=this_version,
        borrower=identity.profile(session, application.borrower_id),
        partner_name=None if partner is None else partner.display_name,
        guarantor_name=None if guarantor is None else guarantor.display_name,
        collateral=collateral_of(session, application.id),
        credit_decisions=credit_decisions(session, application.id),
        field_verifications=field_verifications_of(session, application.id),
        decisions=decisions_of(session, application.id),
        documents=documents_of(session, application.id),
        needs_field_verification=needs_field_verification(application, product, terms),
        needs_four_eyes=needs_four_eyes(application, terms),
    )


__all__ = [
    "ApplicationDecision",
    "ApplicationDetail",
    "ApplicationInput",
    "BlacklistView",
    "CapPosition",
    "Collateral",
    "CollateralInput",
    "CreditDecision",
    "Decision",
    "DocumentView",
    "FieldVerification",
    "GradeTerms",
    "LoanApplication",
    "LprView",
    "ProductTerms",
    "ProductView",
    "Scorer",
    "VersionView",
    "add_blacklist_entry",
    "add_lpr",
    "add_version",
    "annualised_cost",
    "application_detail",
    "apply_online",
    "blacklist_entries",
    "cancel",
    "cap_position",
    "check_terms",
    "collateral_of",
    "create_product",
    "credit_decisions",
    "decide",
    "decisions_of",
    "default_grades",
    "disclosure_of",
    "documents_of",
    "enter_offline",
    "features_of",
    "field_verifications_of",
    "for_review",
    "get_application",
    "latest_field_verification",
    "legal_cap",
    "list_products",
    "lpr_history",
    "lpr_on",
    "of_borrower",
    "of_partner",
    "open_document",
    "plain_rate",
    "product_view",
    "record_field_verification",
    "refer_borrower",
    "remove_blacklist_entry",
    "resubmit",
    "reveals_forbidden_purpose",
    "sniff",
    "upload_document",
    "version_terms",
    "visible",
]
