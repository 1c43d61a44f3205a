"""Builders for P2B claims: a partner institution with money in custody, a submitted claim,
an approved one (booked and offered), and investors buying parts of it."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.p2b import service as p2b
from p2plend.transfers import service as transfers
from tests import builders, lending

INSTITUTION = "深圳前海某某小额贷款有限公司"
AMOUNT = 1_200_000  # 12,000.00 over 12 months at 4 %, first due 2026-12-28


def claim_input(**overrides: object) -> p2b.ClaimInput:
    data = p2b.ClaimInput(
        institution_type="micro_loan",
        institution_risk_tier=2,
        debtor_kind="person",
        debtor_name="陈小明",
        industry="retail",
        region="广东省深圳市",
        purpose="business",
        project_summary="店铺周转",
        monthly_income=1_200_000,
        liabilities=0,
        credit_overdues_6m=0,
        repayment_source="经营收入",
        amount=AMOUNT,
        annual_rate=Decimal("0.04"),
        method="equal_installment",
        term_months=12,
        original_value_date=date(2026, 11, 1),
    )
    return replace(data, **overrides)  # type: ignore[arg-type]


def make_institution(session_factory: sessionmaker[Session], bank: SimulatedBank, balance: int = 0) -> int:
    with session_factory.begin() as session:
        org = builders.make_organisation(session, bank, roles=(Role.PARTNER_INSTITUTION,), name=INSTITUTION)
        card_id = builders.bind_card(session, org.id, holder_name=INSTITUTION)
    if balance:
        lending.deposit(session_factory, bank, org.id, card_id, balance)
    return org.id


def make_officer(session_factory: sessionmaker[Session]) -> int:
    with session_factory.begin() as session:
        user, _ = builders.make_officer(session)
        return user.id


def submitted(session_factory: sessionmaker[Session], institution: int, **overrides: object) -> int:
    with session_factory.begin() as session:
        return p2b.submit_claim(session, institution, claim_input(**overrides)).id


def approved(
    session_factory: sessionmaker[Session], institution: int, *, grade: str = "B", **overrides: object
) -> tuple[int, int]:
    """(claim id, loan id) of a claim approved today: booked and offered on the market."""
    claim_id = submitted(session_factory, institution, **overrides)
    officer = make_officer(session_factory)
    with session_factory.begin() as session:
        claim = p2b.approve(session, claim_id, officer_id=officer, grade=grade)
        assert claim.loan_id is not None
        return claim.id, claim.loan_id


def buy(
    session_factory: sessionmaker[Session], bank: SimulatedBank, listing_id: int, buyer: int, principal: int
) -> int:
    with session_factory.begin() as session:
        return transfers.buy(
            session, buyer_id=buyer, listing_id=listing_id, principal=principal, custodian=bank
        ).price


def listing_of(session_factory: sessionmaker[Session], claim_id: int) -> int:
    with session_factory() as session:
        listing_id = p2b.get_claim(session, claim_id).listing_id
        assert listing_id is not None
        return listing_id
