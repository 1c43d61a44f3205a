"""机构债权 (P2B): submission, approval (booked in repayment and offered), sales, servicing,
repurchase (回购) at the commitment's DPD, the reserve, the compliance report."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.compliance import service as compliance
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import InvalidInput
from p2plend.guarantee import reserve
from p2plend.guarantee.models import ReserveCoverage
from p2plend.identity.permissions import Role
from p2plend.ledger.models import JournalEntry
from p2plend.marketplace import service as marketplace
from p2plend.origination.errors import CostAboveLegalCap
from p2plend.p2b import service as p2b
from p2plend.servicing import service as servicing
from p2plend.transfers import service as transfers
from tests import builders, lending, overdue
from tests.p2b import claims

FIRST_DUE = date(2026, 12, 28)


def _entries(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count(JournalEntry.id))) or 0)


# --- submission ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 20_000_001}, "amount"),  # R4: a person's cap 200,000.00
        ({"institution_type": "guarantor"}, "institution_type"),
        ({"institution_risk_tier": 6}, "institution_risk_tier"),
        ({"method": "bullet"}, "method"),  # one period: never tradable (R38 final period)
        ({"term_months": 1}, "term_months"),
        ({"term_months": 37}, "term_months"),
        ({"purpose": "stocks"}, "purpose"),  # R7
        ({"project_summary": "用于炒股"}, "project_summary"),  # R7
        ({"repurchase_dpd": 0}, "repurchase_dpd"),
        ({"discount_rate": Decimal("0.06")}, "discount_rate"),
        ({"industry": " "}, "industry"),
        ({"original_value_date": date(2026, 12, 1)}, "original_value_date"),
    ],
)
def test_submission_is_validated(
    session_factory: sessionmaker[Session], bank: SimulatedBank, overrides: dict[str, object], field: str
) -> None:
    institution = claims.make_institution(session_factory, bank)
    with session_factory() as session, pytest.raises(InvalidInput) as caught:
        p2b.submit_claim(session, institution, claims.claim_input(**overrides))
    assert caught.value.code == "invalid_partner_claim"
    assert caught.value.details["field"] == field


def test_organisation_debtor_cap_is_r5(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    institution = claims.make_institution(session_factory, bank)
    claim_id = claims.submitted(session_factory, institution, debtor_kind="organisation", amount=100_000_000)
    with session_factory() as session, pytest.raises(InvalidInput):
        p2b.submit_claim(
            session, institution, claims.claim_input(debtor_kind="organisation", amount=100_000_001)
        )
        assert p2b.get_claim(session, claim_id).status == p2b.SUBMITTED


def test_rate_above_four_times_lpr_is_refused_r29(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution = claims.make_institution(session_factory, bank)
    with session_factory() as session, pytest.raises(CostAboveLegalCap):
        p2b.submit_claim(session, institution, claims.claim_input(annual_rate=Decimal("0.30")))


def test_only_a_partner_institution_submits(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    with session_factory.begin() as session:
        guarantor = builders.make_organisation(session, bank, roles=(Role.GUARANTOR,)).id
        no_custody = builders.make_organisation(session).id
    for user_id in (guarantor, no_custody):
        with session_factory() as session, pytest.raises(p2b.NotAPartnerInstitution):
            p2b.submit_claim(session, user_id, claims.claim_input())


def test_disclosure_is_masked_and_complete(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution = claims.make_institution(session_factory, bank)
    claim_id = claims.submitted(session_factory, institution)
    with session_factory() as session:
        disclosure = p2b.get_claim(session, claim_id).disclosure
    assert disclosure["borrower_name_masked"] == "陈**"  # R47
    assert "陈小明" not in str(disclosure)
    assert all(disclosure.get(key) not in (None, "") for key in marketplace.REQUIRED_DISCLOSURE)  # R48
    assert disclosure["partner_claim"]["institution"] == claims.INSTITUTION


# --- approval -----------------------------------------------------------------------------


def test_approval_books_the_loan_the_holding_and_the_listing(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution = claims.make_institution(session_factory, bank)
    before = _entries(session_factory)
    claim_id, loan_id = claims.approved(session_factory, institution, grade="B", repurchase_dpd=30)
    assert _entries(session_factory) == before  # no money moves at booking
    listing_id = claims.listing_of(session_factory, claim_id)
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert (loan.status, loan.product_kind, loan.borrower_id) == (
            "disbursed",
            "partner_claim",
            institution,
        )
        assert (loan.funded, loan.principal_outstanding, loan.risk_class) == (
            claims.AMOUNT,
            claims.AMOUNT,
            "R3",
        )
        assert loan.value_date == date(2026, 11, 28)
        (holding,) = marketplace.holdings_of_loan(session, loan_id)
        assert (holding.holder_id, holding.source, holding.principal_outstanding) == (
            institution,
            "partner",
            claims.AMOUNT,
        )
        assert lending.holdings_total(session, loan_id) == loan.principal_outstanding  # R26
        rows = servicing.schedule(session, loan_id)
        assert len(rows) == 12 and rows[0].due_date == FIRST_DUE
        assert sum(r.principal for r in rows) == claims.AMOUNT
        listing = transfers.get_listing(session, listing_id)
        assert (listing.seller_id, listing.principal, listing.status) == (institution, claims.AMOUNT, "open")
        # Not the institution's own borrowing (R4–R6 count the debtor's, not the servicer's).
        assert marketplace.committed_principal(session, institution) == 0


def test_a_claim_is_decided_once_and_rejection_needs_a_reason(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution = claims.make_institution(session_factory, bank)
    claim_id = claims.submitted(session_factory, institution)
    officer = claims.make_officer(session_factory)
    with session_factory() as session, pytest.raises(InvalidInput):
        p2b.reject(session, claim_id, officer_id=officer, reason=" ")
    with session_factory.begin() as session:
        assert p2b.reject(session, claim_id, officer_id=officer, reason="资料不全").status == "rejected"
    with session_factory() as session, pytest.raises(p2b.PartnerClaimDecided):
        p2b.approve(session, claim_id, officer_id=officer, grade="B")


def test_guaranteed_claim_signs_the_agreement(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    institution = claims.make_institution(session_factory, bank)
    _, loan_id = claims.approved(session_factory, institution, guarantor_id=guarantor)
    with session_factory() as session:
        from p2plend.guarantee import service as guarantee

        agreement = guarantee.agreement_of(session, loan_id)
        assert agreement is not None and agreement.guarantor_id == guarantor


# --- sales and servicing ----------------------------------------------------------------------


def _sold(
    session_factory: sessionmaker[Session], bank: SimulatedBank, **overrides: object
) -> tuple[int, int, int, list[int]]:
    """An approved claim of which two investors bought 6,000.00 and 3,000.00 (3,000.00 unsold)."""
    institution = claims.make_institution(session_factory, bank)
    claim_id, loan_id = claims.approved(session_factory, institution, **overrides)
    investors = lending.make_investors(session_factory, bank, [1_000_000, 1_000_000])
    listing = claims.listing_of(session_factory, claim_id)
    claims.buy(session_factory, bank, listing, investors[0], 600_000)
    claims.buy(session_factory, bank, listing, investors[1], 300_000)
    return institution, claim_id, loan_id, investors


def test_investors_buy_parts_and_the_institution_receives_the_price(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution, claim_id, loan_id, investors = _sold(session_factory, bank)
    # Day 0, d = 0: price = principal; fee 0.5 % of the price to the platform (R39).
    assert lending.balances(session_factory, institution).available == 900_000 - 4_500
    assert lending.balances(session_factory, investors[0]).available == 400_000
    with session_factory() as session:
        view = p2b.view(session, p2b.get_claim(session, claim_id))
        assert (view.unsold, view.sold) == (300_000, 900_000)
        assert lending.holdings_total(session, loan_id) == claims.AMOUNT


def test_the_institutions_payment_reaches_the_buyers_and_itself(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution, claim_id, loan_id, investors = _sold(session_factory, bank)
    lending.go_to(FIRST_DUE)
    with session_factory.begin() as session:
        repayment = p2b.repay(session, claim_id, institution_id=institution, custodian=bank)
    assert repayment.principal + repayment.interest == 102_180  # 12,000.00 at 4 %, 12 months: A = 1,021.80
    with session_factory() as session:
        shares = {i: servicing.distributions_of_holder(session, i)[0] for i in (*investors, institution)}
        assert (
            shares[investors[0]].principal + shares[investors[1]].principal + shares[institution].principal
            == repayment.principal
        )
        assert shares[investors[0]].interest == 2_000 and shares[institution].interest == 1_000
        assert (
            lending.holdings_total(session, loan_id)
            == marketplace.get_loan(session, loan_id).principal_outstanding
        )


def test_repay_is_the_institutions_own_claim_only(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    _, claim_id, _, _ = _sold(session_factory, bank)
    other = claims.make_institution(session_factory, bank)
    lending.go_to(FIRST_DUE)
    with session_factory() as session, pytest.raises(p2b.PartnerClaimNotFound):
        p2b.repay(session, claim_id, institution_id=other, custodian=bank)


# --- repurchase (回购) --------------------------------------------------------------------------


def _spent(
    session_factory: sessionmaker[Session], bank: SimulatedBank, institution: int, keep: int = 0
) -> None:
    lending.spend_all(session_factory, bank, institution)
    if keep:
        lending.deposit(
            session_factory, bank, institution, lending.card_of(session_factory, institution), keep
        )


def _repurchase(session_factory: sessionmaker[Session], bank: SimulatedBank, on: date) -> int:
    """The batch's act on ``on`` (its ``compensate`` step calls it for every loan in service)."""
    lending.go_to(on)
    with session_factory.begin() as session:
        return sum(
            p2b.repurchase_due(session, loan.id, on, bank)
            for loan in marketplace.loans(session, statuses=["disbursed"])
        )


def test_repurchase_at_the_dpd_pays_the_investors_and_takes_the_claims_once(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution, _, loan_id, investors = _sold(session_factory, bank, repurchase_dpd=30)
    _spent(session_factory, bank, institution)
    overdue.close(session_factory, bank, overdue.overdue_by(29))
    assert _repurchase(session_factory, bank, overdue.overdue_by(29)) == 0  # DPD 29 < 30
    _spent(session_factory, bank, institution, keep=2_000_000)
    before = [lending.balances(session_factory, i).available for i in investors]
    assert _repurchase(session_factory, bank, overdue.overdue_by(30)) == 1
    with session_factory() as session:
        record = p2b.repurchase_of(session, loan_id)
        assert record is not None and record.shortfall == 0 and record.days_past_due == 30
        assert {h.holder_id for h in marketplace.holdings_of_loan(session, loan_id)} == {institution}
        assert (
            lending.holdings_total(session, loan_id)
            == marketplace.get_loan(session, loan_id).principal_outstanding
        )
        # All the investors' principal and their share of the overdue interest (40.00 × 9/12);
        # the institution does not pay itself for the 3,000.00 it kept.
        assert (record.principal, record.interest, record.due) == (900_000, 3_000, 903_000)
    gained = [
        lending.balances(session_factory, i).available - b for i, b in zip(investors, before, strict=True)
    ]
    assert gained == [600_000 + 2_000 - 200, 300_000 + 1_000 - 100]  # less the 10 % management fee (R27)
    assert lending.balances(session_factory, institution).available == 2_000_000 - 903_000
    assert _repurchase(session_factory, bank, overdue.overdue_by(31)) == 0  # once


def test_short_institution_repurchases_pro_rata(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution, _, loan_id, investors = _sold(session_factory, bank, repurchase_dpd=30)
    _spent(session_factory, bank, institution)
    overdue.close(session_factory, bank, overdue.overdue_by(29))
    _spent(session_factory, bank, institution, keep=451_500)  # half of 903,000.00
    _repurchase(session_factory, bank, overdue.overdue_by(30))
    with session_factory() as session:
        record = p2b.repurchase_of(session, loan_id)
        assert record is not None
        assert (record.due, record.paid, record.shortfall) == (903_000, 451_500, 451_500)  # as R36
        held = {
            h.holder_id: h.principal_outstanding
            for h in marketplace.holdings_of_loan(session, loan_id)
            if h.source != "compensation"
        }
        assert held[investors[0]] == 300_000 and held[investors[1]] == 150_000
        assert (
            lending.holdings_total(session, loan_id)
            == marketplace.get_loan(session, loan_id).principal_outstanding
        )
    assert lending.balances(session_factory, institution).available == 0


def test_the_batch_repurchases_once_after_a_guarantor(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """The batch: the guarantor compensates the installment on DPD 2 first; at DPD 30 the
    institution (which the auto-debit found empty) owes the rest — recorded once, short."""
    guarantor = lending.make_guarantor(session_factory, bank, 2_000_000)
    institution, _, loan_id, _ = _sold(session_factory, bank, repurchase_dpd=30, guarantor_id=guarantor)
    _spent(session_factory, bank, institution)
    overdue.close_each_day(session_factory, bank, overdue.overdue_by(31))
    with session_factory() as session:
        record = p2b.repurchase_of(session, loan_id)
        assert record is not None and record.paid == 0 and record.shortfall == record.due > 0
        assert len(p2b.repurchases(session)) == 1
        paid_by_guarantor = [
            r for r in servicing.repayments_of_loan(session, loan_id) if r.payer_id == guarantor
        ]
        assert len(paid_by_guarantor) == 1  # installment 1 on DPD 2; none after the repurchase
        assert (
            lending.holdings_total(session, loan_id)
            == marketplace.get_loan(session, loan_id).principal_outstanding
        )


def test_the_risk_reserve_never_covers_a_partner_claim(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    with session_factory.begin() as session:
        reserve.open_account(session, bank, phone=builders.next_phone(), actor_id=None)
        reserve.configure(
            session,
            enabled=True,
            coverage="principal_interest",
            trigger_dpd=2,
            accelerate_dpd=90,
            contribution_rate=Decimal("0.01"),
            actor_id=None,
        )
    institution = claims.make_institution(session_factory, bank)
    _, loan_id = claims.approved(session_factory, institution)
    overdue.close(session_factory, bank, date(2026, 11, 28))
    with session_factory() as session:
        assert session.get(ReserveCoverage, loan_id) is None


def test_compliance_counts_and_flags_partner_claims(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    with session_factory() as session:
        check = {c.code: c for c in compliance.report(session).checks}["partner_claims"]
        assert not check.flagged
    institution = claims.make_institution(session_factory, bank)
    claims.approved(session_factory, institution)
    with session_factory() as session:
        check = {c.code: c for c in compliance.report(session).checks}["partner_claims"]
    assert check.flagged and "credit chain" in check.message
    assert check.figures["claims"] == 1 and check.figures["outstanding"] == "12000.00"
    assert check.figures["share"] == "1.0000"
