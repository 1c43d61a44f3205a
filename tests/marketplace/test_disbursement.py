"""Disbursement (放款): frozen bids → the borrower, service fee → the platform, holdings, schedule (R1)."""

from collections.abc import Sequence
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.errors import CustodianRefused
from p2plend.custody.port import Instruction, OrderStatus
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.custody.simulated.models import BankOrder
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry, LedgerAccount, Posting
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import LoanStateConflict
from p2plend.schedules.service import Method, Terms, build_schedule
from p2plend.servicing import service as servicing
from tests import lending

# 10,050.50 yuan at a 2.35 % service fee: 236.18675 → rd = 236.19.
AMOUNT = 1_005_050
FEE = 23_619


class _Funded:
    def __init__(self, loan_id: int, borrower: int, investors: list[int], balance: int) -> None:
        self.loan_id = loan_id
        self.borrower = borrower
        self.investors = investors
        self.balance = balance


def _funded(
    session_factory: sessionmaker[Session], bank: SimulatedBank, *, method: Method = Method.EQUAL_INSTALLMENT
) -> _Funded:
    """Three investors; ``a`` bids twice (once automatically), ``c`` only automatically."""
    borrower = lending.make_borrower(session_factory, bank)
    balance = 800_000
    a, b, c = lending.make_investors(session_factory, bank, [balance] * 3)
    loan_id = lending.open_listing(
        session_factory,
        lending.listing_terms(
            borrower, amount=AMOUNT, annual_rate="0.0975", method=method, service_fee_rate=Decimal("0.0235")
        ),
    )
    with session_factory.begin() as session:
        for investor, amount, source in ((a, 300_000, "bid"), (b, 500_000, "bid"), (a, 200_000, "auto_bid")):
            marketplace.place_bid(
                session, investor_id=investor, loan_id=loan_id, amount=amount, source=source
            )
        marketplace.place_bid(session, investor_id=c, loan_id=loan_id, amount=5_050, source="auto_bid")
        assert marketplace.get_loan(session, loan_id).status == "funded"
    return _Funded(loan_id, borrower, [a, b, c], balance)


def test_disbursement_moves_frozen_money_straight_to_the_borrower(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Post: each investor's frozen → the borrower's available; the service fee rd(amount × rate)
    → ``platform:fee_income``."""
    f = _funded(session_factory, bank)
    a, b, c = f.investors
    fee_income_before = _balance(session_factory, ledger.PLATFORM_FEE_INCOME)
    loan = lending.disburse(session_factory, bank, f.loan_id)
    assert (loan.status, loan.service_fee, loan.principal_outstanding) == ("disbursed", FEE, AMOUNT)
    assert loan.value_date == clock.today() and loan.disbursed_at == clock.now()
    with session_factory() as session:
        for investor, lent in ((a, 500_000), (b, 500_000), (c, 5_050)):
            assert ledger.user_balances(session, investor) == ledger.Balances(f.balance - lent, 0)
        assert ledger.user_balances(session, f.borrower) == ledger.Balances(AMOUNT - FEE, 0)
    assert _balance(session_factory, ledger.PLATFORM_FEE_INCOME) == fee_income_before + FEE


def test_r1_no_platform_account_is_payer_or_payee_of_the_principal(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R1: the disbursement entry's postings touch only the investors' frozen and the borrower's
    available accounts; the fee is a separate entry, from the borrower. At the bank, likewise:
    investor sub-accounts → the borrower's; only the fee leg reaches the platform's, from the borrower."""
    f = _funded(session_factory, bank)
    a, b, c = f.investors
    lending.disburse(session_factory, bank, f.loan_id)
    with session_factory() as session:
        entries = session.scalars(
            select(JournalEntry).where(JournalEntry.ref_type == "loan", JournalEntry.ref_id == str(f.loan_id))
        ).all()
        by_kind = {e.kind: _postings(session, e.id) for e in entries}
        assert set(by_kind) == {"disbursement", "service_fee"}
        assert by_kind["disbursement"] == {
            ledger.user_frozen(a): -500_000,
            ledger.user_frozen(b): -500_000,
            ledger.user_frozen(c): -5_050,
            ledger.user_available(f.borrower): AMOUNT,
        }
        owners = session.scalars(
            select(LedgerAccount.owner_type).where(LedgerAccount.code.in_(by_kind["disbursement"]))
        ).all()
        assert set(owners) == {"user"}
        assert by_kind["service_fee"] == {
            ledger.user_available(f.borrower): -FEE,
            ledger.PLATFORM_FEE_INCOME: FEE,
        }
        subs = {u: marketplace.sub_account_of(session, u) for u in (a, b, c, f.borrower)}
        platform_sub = custody.open_platform_fee_account(session, bank).sub_account_no
    with bank.session_factory() as bank_session:
        orders = bank_session.scalars(
            select(BankOrder).where(BankOrder.order_no.like(f"DSB{f.loan_id}.%")).order_by(BankOrder.id)
        ).all()
        legs = [(o.sub_account_no, o.counterparty_no, o.amount, o.status) for o in orders]
    assert legs == [
        (subs[a], subs[f.borrower], 500_000, "succeeded"),
        (subs[b], subs[f.borrower], 500_000, "succeeded"),
        (subs[c], subs[f.borrower], 5_050, "succeeded"),
        (subs[f.borrower], platform_sub, FEE, "succeeded"),
    ]
    assert all(platform_sub not in (frm, to) for frm, to, _, _ in legs[:3])


def test_holdings_one_per_investor_sum_to_the_amount(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """ARCHITECTURE.md claims: one holding per investor, summing to the loan; a holding bought
    by any manual bid counts as ``bid``, a wholly automatic one as ``auto_bid``; bids disbursed."""
    f = _funded(session_factory, bank)
    a, b, c = f.investors
    lending.disburse(session_factory, bank, f.loan_id)
    with session_factory() as session:
        holdings = marketplace.holdings_of_loan(session, f.loan_id)
        assert [(h.holder_id, h.principal_outstanding, h.principal_acquired, h.source) for h in holdings] == [
            (a, 500_000, 500_000, "bid"),
            (b, 500_000, 500_000, "bid"),
            (c, 5_050, 5_050, "auto_bid"),
        ]
        assert all(h.acquired_at == clock.now() for h in holdings)
        assert sum(h.principal_outstanding for h in holdings) == AMOUNT
        assert (
            lending.holdings_total(session, f.loan_id)
            == marketplace.get_loan(session, f.loan_id).principal_outstanding
        )
        bids = marketplace.bids_of_loan(session, f.loan_id)
        assert {(bid.status, bid.settled_at) for bid in bids} == {("disbursed", clock.now())}
        for investor in f.investors:
            assert lending.frozen_bids_of(session, investor) == 0
        # The holdings count towards the tier cap (R16) in place of the bids.
        assert marketplace.lending_outstanding(session, a) == 500_000


@pytest.mark.parametrize("method", list(Method))
def test_the_schedule_is_fixed_from_the_loans_own_terms(
    session_factory: sessionmaker[Session], bank: SimulatedBank, method: Method
) -> None:
    """R20: the borrower's schedule, written at disbursement, is ``build_schedule`` of the loan's terms."""
    f = _funded(session_factory, bank, method=method)
    lending.disburse(session_factory, bank, f.loan_id)
    expected = build_schedule(
        Terms(
            principal=AMOUNT,
            annual_rate=Decimal("0.0975"),
            method=method,
            value_date=clock.today(),
            months=12,
        )
    )
    with session_factory() as session:
        rows = servicing.schedule(session, f.loan_id)
    assert [
        (r.number, r.due_date, r.principal, r.interest, r.fee, r.status, r.schedule_version) for r in rows
    ] == [(e.number, e.due_date, e.principal, e.interest, 0, "due", 1) for e in expected]
    assert sum(r.principal for r in rows) == AMOUNT


def test_the_banks_books_equal_the_ledger_after_disbursement(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R12: live reconciliation shows no difference; the investors' money left their own sub-accounts."""
    f = _funded(session_factory, bank)
    lending.disburse(session_factory, bank, f.loan_id)
    with session_factory() as session:
        report = custody.live_differences(session, bank)
        assert report.differences == ()
        assert bank.balances()[marketplace.sub_account_of(session, f.borrower)] == AMOUNT - FEE


def test_disbursing_twice_is_refused_and_moves_nothing(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    f = _funded(session_factory, bank)
    lending.disburse(session_factory, bank, f.loan_id)
    before = bank.balances()
    with pytest.raises(LoanStateConflict) as refused:
        lending.disburse(session_factory, bank, f.loan_id)
    assert refused.value.details["status"] == "disbursed"
    assert bank.balances() == before
    lending.assert_loan_sound(session_factory, f.loan_id)


class _RefusingBank:
    """The custodian refuses every transfer instruction (and moves nothing)."""

    def __init__(self, bank: SimulatedBank) -> None:
        self._bank = bank

    def __getattr__(self, name: str) -> object:
        return getattr(self._bank, name)

    def transfer_many(self, instructions: Sequence[Instruction]) -> list[OrderStatus]:
        return ["failed" for _ in instructions]


def test_a_refusal_at_the_bank_records_nothing_and_the_act_can_be_retried(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    f = _funded(session_factory, bank)
    with pytest.raises(CustodianRefused) as refused, session_factory.begin() as session:
        servicing.disburse_loan(session, f.loan_id, _RefusingBank(bank), actor_id=f.borrower)  # type: ignore[arg-type]
    assert refused.value.details == {"instruction": f"DSB{f.loan_id}", "status": "failed"}
    with session_factory() as session:
        loan = marketplace.get_loan(session, f.loan_id)
        assert (loan.status, loan.principal_outstanding) == ("funded", 0)
        assert marketplace.holdings_of_loan(session, f.loan_id) == []
        assert servicing.schedule(session, f.loan_id) == []
        assert {b.status for b in marketplace.bids_of_loan(session, f.loan_id)} == {"frozen"}
    lending.disburse(session_factory, bank, f.loan_id)
    lending.assert_loan_sound(session_factory, f.loan_id)


def _postings(session: Session, entry_id: int) -> dict[str, int]:
    return dict(
        session.execute(
            select(LedgerAccount.code, Posting.amount)
            .join(Posting, Posting.account_id == LedgerAccount.id)
            .where(Posting.entry_id == entry_id)
        ).all()
    )


def _balance(session_factory: sessionmaker[Session], code: str) -> int:
    with session_factory() as session:
        return ledger.balance(session, code)
