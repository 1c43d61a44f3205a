"""The primary and secondary markets against a model (issue 5's acceptance property).

A hypothesis state machine drives the real services on a fresh migrated database per
example (SQLite file or PostgreSQL clone): listings opened with the auto-bid queue serving
them (``autobid.open_listing``), manual bids, disbursement, the business clock moving in
jumps with every date closed by the end-of-day batch (which also auto-debits), borrowers
repaying what is due or part of it or repaying early, and holders listing part of a claim
for transfer while another investor buys part of it.

The machine keeps its own book of who holds what (each claim, its holder and principal, in
acquisition order) and checks after every step:

* no listing is funded above its amount, and its frozen bids are the model's;
* for every loan in repayment the holdings sum to its outstanding principal (R26) and are
  exactly the model's claims;
* every repayment since the last step was split among exactly the claims live on its
  date — the holder of the day, never a seller who sold the whole part (R41) — each
  component pro rata in acquisition order (R25); its distributions sum to what it paid
  the holders, and its ledger entry pays each of them exactly their net, nobody else;
* no (repayment, holding) pair is distributed twice; what each claim received is the sum
  of its distributions;
* the ledger verifies and the bank's books equal it.
"""

import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.custody import service as custody
from p2plend.db import make_engine, make_session_factory
from p2plend.identity.permissions import Role
from p2plend.jobs import eod
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry, LedgerAccount, Posting
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import BidCapExceeded
from p2plend.marketplace.models import Bid, Holding, Loan
from p2plend.marketplace.transfer_listings import TransferListing, TransferSale
from p2plend.money import allocate, fen_times_rate
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from p2plend.servicing.errors import InstallmentDueFirst
from p2plend.servicing.models import Distribution, Repayment
from p2plend.transfers import service as transfers
from p2plend.transfers.errors import (
    AlreadyListed,
    HoldingTooRecent,
    TransferListingNotOpen,
    TransferNotEligible,
)
from tests import builders, lending, overdue
from tests.autobid.conftest import enable_rule
from tests.conftest import TEST_DATE
from tests.transfers import market

START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # the tests' business date, 10:00 Beijing
STEP = 10_000  # the listings' minimum bid and bid step: 100.00
BALANCE = 3_000_000  # each investor's deposit: 30,000.00
COMPONENTS = ("principal", "interest", "penalty", "prepayment_fee")
SERVICED = (marketplace.DISBURSED, marketplace.SETTLED)
MAX_LOANS = 2
MIN_DEPOSIT = 100  # the custodian takes deposits of 1.00 and more
HORIZON = date(2027, 2, 20)  # the clock stops here: the first loan's second and third periods
amounts = st.integers(10, 60)  # in bid steps: 1,000.00 to 6,000.00
methods = st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL])


@dataclass
class Claim:
    """The model's claim: a holding, its holder and principal, the day it was acquired."""

    holding_id: int
    holder_id: int
    principal: int
    acquired_on: date
    bought: bool = False  # on the transfer market
    sold_out: bool = False  # its holder sold all of it


def _without_fsync(connection: sqlite3.Connection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def test_markets_keep_holders_and_books_straight(
    fresh_database: Callable[[], AbstractContextManager[str]], business_clock: clock.FixedClock
) -> None:
    seen: Counter[str] = Counter()  # over every example: proof the interesting paths ran

    class MarketMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            business_clock.set(START)
            self.resources = ExitStack()
            url = self.resources.enter_context(fresh_database())
            self.engine = make_engine(url)
            if self.engine.dialect.name == "sqlite":
                # A throwaway database: commits need not wait for the disk (the batch commits often).
                sqlalchemy_event.listen(self.engine, "connect", _without_fsync)
            self.sessions = make_session_factory(self.engine)
            self.bank = custody.simulated_custodian(url, self.sessions)
            self.borrowers: list[int] = []
            self.cards: dict[int, int] = {}
            self.investors: list[int] = []
            self.officer = 0
            self.loans: list[int] = []
            self.status: dict[int, str] = {}  # each listing's status after the last step
            self.deadline: dict[int, datetime] = {}
            self.bids: dict[int, Counter[int]] = {}  # listing → investor → frozen amount
            self.claims: dict[int, list[Claim]] = {}  # loan in repayment → claims, acquisition order
            self.last_repayment = 0
            self.last_closed: date | None = None

        def teardown(self) -> None:
            self.bank.close()
            self.engine.dispose()
            self.resources.close()

        # --- helpers ----------------------------------------------------------------------

        def today(self) -> date:
            return clock.today()

        def loans_in(self, *states: str) -> list[int]:
            return [loan_id for loan_id in self.loans if self.status[loan_id] in states]

        def biddable(self) -> list[int]:
            return [i for i in self.loans_in(marketplace.OPEN) if self.deadline[i] > clock.now()]

        def close_through(self, day: date) -> None:
            """The nightly batch for each date through ``day``, then ops fail expired listings."""
            overdue.close_each_day(self.sessions, self.bank, day)
            self.last_closed = day
            with self.sessions.begin() as session:
                marketplace.fail_expired_listings(session)
            self.catch_up()

        def catch_up(self) -> None:
            """The listings' statuses, and the repayments since the last look checked against the
            claims of their day and booked into the model."""
            with self.sessions() as session:
                self.status = dict(
                    session.execute(select(Loan.id, Loan.status).where(Loan.id.in_(self.loans))).all()
                )
                self.check_new_repayments(session)

        # --- acts the rules share ---------------------------------------------------------------

        def open_and_allocate(self, borrower: int, steps: int, months: int, method: Method) -> int:
            """发布: a listing of ``steps`` bid steps opens and the auto-bid queue bids into it."""
            terms = lending.listing_terms(
                self.borrowers[borrower],
                amount=steps * STEP,
                months=months,
                method=method,
                min_bid=STEP,
                bid_step=STEP,
                prepayment_fee_rate=Decimal("0.01"),
            )
            with self.sessions.begin() as session:
                loan = marketplace.create_listing(session, terms, actor_id=None)
                autobid.open_listing(session, loan.id, actor_id=None)
                loan_id = loan.id
            self.loans.append(loan_id)
            with self.sessions() as session:
                loan = marketplace.get_loan(session, loan_id)
                assert loan.deadline is not None
                self.status[loan_id], self.deadline[loan_id] = loan.status, loan.deadline
                auto = [b for b in marketplace.bids_of_loan(session, loan_id) if b.source == autobid.AUTO_BID]
                cap = autobid.per_bid_cap(loan)
                assert sum(b.amount for b in auto) <= autobid.auto_limit(loan)  # R43: 60 %
                assert all(b.amount <= cap or b.amount == loan.amount for b in auto)  # R43: 20 %
                assert len({b.investor_id for b in auto}) == len(auto)  # one auto-bid per listing each
            self.bids[loan_id] = Counter()
            for b in auto:
                self.bids[loan_id][b.investor_id] += b.amount
            seen["auto_bids"] += len(auto)
            return loan_id

        def bid(self, loan_id: int, investor_id: int, steps: int | None) -> None:
            """A manual bid of ``steps`` bid steps, or (None) of all the investor may still lend
            into the listing — or all that remains when that is nothing (then refused)."""
            with self.sessions() as session:
                loan = marketplace.get_loan(session, loan_id)
                remaining, cap = loan.amount - loan.funded, marketplace.investor_cap(loan)
            room = (cap - self.bids[loan_id][investor_id]) // STEP * STEP
            amount = steps * STEP if steps is not None else min(remaining, room) if room > 0 else remaining
            filled = min(amount, remaining)
            over_cap = self.bids[loan_id][investor_id] + filled > cap
            try:
                lending.bid(self.sessions, investor_id, loan_id, amount)
            except BidCapExceeded:
                assert over_cap, "a bid within the per-investor share was refused"
                seen["bids_over_cap"] += 1
                return
            assert not over_cap, "a bid above the per-investor share was taken"
            self.bids[loan_id][investor_id] += filled
            self.status[loan_id] = marketplace.FUNDED if filled == remaining else marketplace.OPEN
            seen["manual_bids"] += 1

        def disburse_and_book(self, loan_id: int, spend: bool) -> None:
            """满标放款, and the claims into the model; the borrower may then spend it all, so
            that repayments need deposits and the auto-debit finds little or nothing."""
            with self.sessions.begin() as session:
                loan = autobid.disburse_loan(session, loan_id, self.bank, actor_id=self.officer)
                borrower = loan.borrower_id
            with self.sessions() as session:
                holdings = sorted(marketplace.holdings_of_loan(session, loan_id), key=lambda h: h.id)
                self.claims[loan_id] = [
                    Claim(h.id, h.holder_id, h.principal_outstanding, self.today()) for h in holdings
                ]
            assert {c.holder_id: c.principal for c in self.claims[loan_id]} == dict(self.bids[loan_id])
            self.status[loan_id] = marketplace.DISBURSED
            if spend:
                lending.spend_all(self.sessions, self.bank, borrower)
            seen["disbursed"] += 1

        # --- set-up -------------------------------------------------------------------------

        @initialize(
            borrower=st.integers(0, 1),
            steps=amounts,
            months=st.sampled_from([3, 4]),
            method=methods,
            bidders=st.permutations(range(4)),
            spend=st.booleans(),
        )
        def a_first_loan(
            self, borrower: int, steps: int, months: int, method: Method, bidders: list[int], spend: bool
        ) -> None:
            """Two borrowers, four investors (three bidding automatically, each their own way),
            and a first listing opened, auto-bid, filled by hand and disbursed today."""
            self.borrowers = [lending.make_borrower(self.sessions, self.bank) for _ in range(2)]
            self.cards = {b: lending.card_of(self.sessions, b) for b in self.borrowers}
            self.investors = lending.make_investors(self.sessions, self.bank, [BALANCE] * 4)
            first, second, third, _ = self.investors
            enable_rule(self.sessions, first, fixed_amount=100_000)
            enable_rule(self.sessions, second, fixed_amount=30_000, reserve=BALANCE - 200_000)
            enable_rule(
                self.sessions, third, amount_mode=autobid.SHARE, fixed_amount=0, balance_share=Decimal("0.02")
            )
            with self.sessions.begin() as session:
                self.officer = builders.make_staff(session, roles=(Role.RISK_OFFICER,))[0].id
            loan_id = self.open_and_allocate(borrower, steps, months, method)
            for i in bidders:
                if self.status[loan_id] == marketplace.OPEN:
                    self.bid(loan_id, self.investors[i], None)
            assert self.status[loan_id] == marketplace.FUNDED
            self.disburse_and_book(loan_id, spend)

        # --- the primary market ---------------------------------------------------------------

        @precondition(lambda self: len(self.loans) < MAX_LOANS and not self.biddable())
        @rule(borrower=st.integers(0, 1), steps=amounts, months=st.sampled_from([1, 2, 3, 4]), method=methods)
        def open_listing(self, borrower: int, steps: int, months: int, method: Method) -> None:
            self.open_and_allocate(borrower, steps, months, method)

        @precondition(lambda self: self.biddable())
        @rule(data=st.data(), investor=st.integers(0, 3), steps=st.none() | st.integers(1, 40))
        def place_bid(self, data: st.DataObject, investor: int, steps: int | None) -> None:
            loan_id = data.draw(st.sampled_from(self.biddable()), label="listing")
            self.bid(loan_id, self.investors[investor], steps)

        @precondition(lambda self: self.loans_in(marketplace.FUNDED))
        @rule(data=st.data(), spend=st.booleans())
        def disburse(self, data: st.DataObject, spend: bool) -> None:
            loan_id = data.draw(st.sampled_from(self.loans_in(marketplace.FUNDED)), label="funded listing")
            self.disburse_and_book(loan_id, spend)

        # --- time ---------------------------------------------------------------------------

        @precondition(lambda self: self.today() < HORIZON)
        @rule(days=st.integers(1, 10))
        def advance(self, days: int) -> None:
            self.close_through(min(self.today() + timedelta(days=days), HORIZON))

        def into_a_transfer_window(self, loan_id: int, before_due: int) -> None:
            """Close the days up to ``before_due`` days before the next due date of the loan that
            is not its last and falls once its first claims are 30 days old (and before the
            horizon): a day its claims may change hands (R38). Nothing when there is none."""
            with self.sessions() as session:
                unpaid = servicing.unpaid_installments(session, loan_id)
                value_date = marketplace.get_loan(session, loan_id).value_date
            assert value_date is not None
            earliest = max(self.today(), value_date + timedelta(days=transfers.rules().min_holding_days))
            days = [row.due_date - timedelta(days=before_due) for row in unpaid[:-1]]
            days = [day for day in days if earliest <= day <= HORIZON]
            if days:
                self.close_through(days[0])

        @precondition(lambda self: self.last_closed is not None)
        @rule(data=st.data())
        def batch_runs_again(self, data: st.DataObject) -> None:
            """A closed date's batch started again (a retry, a second worker) pays nobody twice."""
            assert self.last_closed is not None
            day = data.draw(st.dates(TEST_DATE, self.last_closed), label="closed date")
            with self.sessions() as session:
                before = session.scalar(select(func.count(JournalEntry.id)))
            assert eod.close_date(self.sessions, day, self.bank).already_closed
            assert eod.close_through(self.sessions, self.today(), self.bank) == []
            with self.sessions() as session:
                assert session.scalar(select(func.count(JournalEntry.id))) == before

        # --- repayments ------------------------------------------------------------------------

        @precondition(lambda self: self.loans_in(marketplace.DISBURSED))
        @rule(data=st.data(), whole=st.booleans())
        def repay(self, data: st.DataObject, whole: bool) -> None:
            """The borrower deposits, then pays what is due now, or part of it."""
            loan_id = data.draw(st.sampled_from(self.loans_in(marketplace.DISBURSED)), label="loan")
            with self.sessions() as session:
                loan = marketplace.get_loan(session, loan_id)
                borrower = loan.borrower_id
                owed = servicing.amount_due(session, loan_id).total
            amount = owed if whole else data.draw(st.integers(1, owed), label="part")
            lending.deposit(
                self.sessions, self.bank, borrower, self.cards[borrower], max(amount, MIN_DEPOSIT)
            )
            repayment = lending.repay(self.sessions, self.bank, loan_id, borrower, None if whole else amount)
            assert repayment.amount == amount
            seen["repayments"] += 1

        @precondition(lambda self: self.loans_in(marketplace.DISBURSED))
        @rule(data=st.data(), whole=st.integers(0, 3).map(lambda n: n == 0))
        def repay_early(self, data: st.DataObject, whole: bool) -> None:
            """提前还款 of all the principal or part of it; refused while an installment is due."""
            loan_id = data.draw(st.sampled_from(self.loans_in(marketplace.DISBURSED)), label="loan")
            with self.sessions() as session:
                loan = marketplace.get_loan(session, loan_id)
                borrower, outstanding = loan.borrower_id, loan.principal_outstanding
                due_first = servicing.unpaid_installments(session, loan_id)[0].due_date <= self.today()
            principal = None if whole or outstanding < 2 else data.draw(st.integers(1, outstanding - 1))
            deposit = max(outstanding * 2, MIN_DEPOSIT)  # the principal, its interest and fee
            lending.deposit(self.sessions, self.bank, borrower, self.cards[borrower], deposit)
            try:
                lending.repay_early(self.sessions, self.bank, loan_id, borrower, principal)
            except InstallmentDueFirst:
                assert due_first, "an early repayment was refused with nothing due"
                return
            assert not due_first, "an early repayment was taken over an installment due"
            seen["early_repayments"] += 1

        # --- the secondary market --------------------------------------------------------------

        @precondition(lambda self: self.loans_in(marketplace.DISBURSED))
        @rule(
            data=st.data(),
            before_due=st.none() | st.integers(3, 12),
            whole=st.booleans(),
            discount=st.sampled_from(["0", "0.005", "0.05"]),
            purchases=st.lists(st.booleans(), min_size=1, max_size=2),
        )
        def transfer(
            self,
            data: st.DataObject,
            before_due: int | None,
            whole: bool,
            discount: str,
            purchases: list[bool],
        ) -> None:
            """A holder lists all or part of a claim — today, or (``before_due``) once the clock
            reaches a day the loan's claims may change hands — and other investors buy what the
            listing offers, each all that remains or a part (``purchases``: True buys all that
            remains). A refusal of R38 is a no-op."""
            loan_id = data.draw(st.sampled_from(self.loans_in(marketplace.DISBURSED)), label="loan")
            if before_due is not None:
                self.into_a_transfer_window(loan_id, before_due)
            live = [claim for claim in self.claims[loan_id] if claim.principal > 0]
            if not live or self.status[loan_id] != marketplace.DISBURSED:
                return
            claim = data.draw(st.sampled_from(live), label="claim")
            with self.sessions() as session:
                loan = marketplace.get_loan(session, loan_id)
                borrower = loan.borrower_id
            offered = None
            if not whole and claim.principal > STEP:
                offered = data.draw(
                    st.integers(1, claim.principal // STEP).map(lambda n: n * STEP), label="offer"
                )
            try:
                listing = market.list_holding(
                    self.sessions, claim.holder_id, claim.holding_id, principal=offered, discount=discount
                )
            except AlreadyListed:
                with self.sessions() as session:
                    listing = session.scalars(
                        select(TransferListing).where(
                            TransferListing.holding_id == claim.holding_id,
                            TransferListing.status == transfers.OPEN,
                        )
                    ).one()
                    session.expunge(listing)
            except TransferNotEligible as refused:
                held = (self.today() - claim.acquired_on).days
                too_recent = held < transfers.rules().min_holding_days
                assert isinstance(refused, HoldingTooRecent) == too_recent, (refused.code, held)
                event(f"transfer refused: {refused.code}")
                seen[refused.code] += 1
                return
            remaining = listing.principal - listing.sold
            buyers = [i for i in self.investors if i not in (claim.holder_id, borrower)]
            for buy_all in purchases:  # one buyer, or two buying parts one after the other
                if not remaining:
                    break
                amount = remaining
                if not buy_all and remaining > STEP:
                    amount = data.draw(
                        st.integers(1, remaining // STEP).map(lambda n: n * STEP), label="part"
                    )
                buyer = data.draw(st.sampled_from(buyers), label="buyer")
                try:
                    sale = market.buy(self.sessions, self.bank, buyer, listing.id, amount)
                except TransferListingNotOpen:
                    event("transfer refused: listing no longer open")
                    seen["transfer_listing_not_open"] += 1
                    return
                assert (sale.seller_id, sale.buyer_id, sale.principal) == (claim.holder_id, buyer, amount)
                assert sale.seller_holding_id == claim.holding_id
                claim.principal -= amount
                remaining -= amount
                self.claims[loan_id].append(
                    Claim(sale.buyer_holding_id, buyer, amount, self.today(), bought=True)
                )
                seen["sales"] += 1
                if claim.principal == 0:
                    claim.sold_out = True
                    seen["whole_claims_sold"] += 1

        # --- what must always hold --------------------------------------------------------------

        @invariant()
        def markets_and_books_agree(self) -> None:
            self.catch_up()
            with self.sessions() as session:
                self.check_listings(session)
                self.check_claims(session)
                self.check_distributions(session)
            serviced = self.loans_in(*SERVICED)
            lending.assert_loan_sound(self.sessions, *serviced)  # R26, the ledger verifies, the bank agrees

        def check_listings(self, session: Session) -> None:
            """R44: no listing funded above its amount; its frozen bids are the model's."""
            for loan in session.scalars(select(Loan).where(Loan.id.in_(self.loans))):
                assert 0 <= loan.funded <= loan.amount
                if loan.status in (marketplace.OPEN, marketplace.FUNDED):
                    frozen: Counter[int] = Counter()
                    for b in session.scalars(
                        select(Bid).where(Bid.loan_id == loan.id, Bid.status == "frozen")
                    ):
                        frozen[b.investor_id] += b.amount
                    assert frozen == self.bids[loan.id]
                    assert loan.funded == sum(frozen.values())
                    assert all(v <= marketplace.investor_cap(loan) for v in frozen.values())
                if loan.status == marketplace.OPEN:
                    assert loan.funded < loan.amount
                if loan.status == marketplace.FUNDED:
                    assert loan.funded == loan.amount

        def check_new_repayments(self, session: Session) -> None:
            """Each repayment since the last step, in order, against the claims of its day."""
            repayments = session.scalars(
                select(Repayment).where(Repayment.id > self.last_repayment).order_by(Repayment.id)
            ).all()
            for repayment in repayments:
                self.check_repayment(session, repayment)
                self.last_repayment = repayment.id

        def check_repayment(self, session: Session, repayment: Repayment) -> None:
            loan = marketplace.get_loan(session, repayment.loan_id)
            live = [c for c in self.claims[loan.id] if c.principal > 0]
            rows = {
                d.holding_id: d
                for d in session.scalars(
                    select(Distribution).where(Distribution.repayment_id == repayment.id)
                )
            }
            # Exactly the claims of the day: each holder of the day, no seller of a whole part.
            assert sorted(rows) == sorted(c.holding_id for c in live), (repayment.kind, rows, live)
            for claim in live:
                assert rows[claim.holding_id].holder_id == claim.holder_id
                assert rows[claim.holding_id].business_date == repayment.business_date
            # Each component pro rata over the claims in acquisition order (R25), summing to the repayment's.
            weights = [c.principal for c in live]
            for part in COMPONENTS:
                shares = [getattr(rows[c.holding_id], part) for c in live]
                assert shares == allocate(getattr(repayment, part), weights), part
                assert sum(shares) == getattr(repayment, part), part
            fee_rate = Decimal(loan.investor_fee_rate)
            assert all(d.investor_fee == fen_times_rate(d.interest, fee_rate) for d in rows.values())
            # The ledger entry pays each holder of the day their net, and no other user.
            net: Counter[int] = Counter()
            for d in rows.values():
                net[d.holder_id] += d.net
            expected = {ledger.user_available(h): amount for h, amount in net.items() if amount}
            expected[ledger.user_available(loan.borrower_id)] = -repayment.amount
            platform = repayment.fee + repayment.late_fee + sum(d.investor_fee for d in rows.values())
            if platform:
                expected[ledger.PLATFORM_FEE_INCOME] = platform
            postings = session.execute(
                select(LedgerAccount.code, Posting.amount)
                .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                .where(Posting.entry_id == repayment.entry_id)
            ).all()
            assert dict(postings) == expected
            assert len(postings) == len(expected)
            for claim in live:
                claim.principal -= rows[claim.holding_id].principal
            if any(c.bought for c in live):
                seen["repayments_reaching_a_buyer"] += 1
            if any(c.sold_out for c in self.claims[loan.id]):
                seen["repayments_after_a_whole_sale"] += 1

        def check_claims(self, session: Session) -> None:
            """R26 and the model: the holdings of each loan in repayment are the model's claims."""
            for loan_id, claims in self.claims.items():
                held = session.execute(
                    select(Holding.id, Holding.holder_id, Holding.principal_outstanding)
                    .where(Holding.loan_id == loan_id)
                    .order_by(Holding.id)
                ).all()
                assert [tuple(h) for h in held] == [(c.holding_id, c.holder_id, c.principal) for c in claims]
                loan = marketplace.get_loan(session, loan_id)
                assert sum(c.principal for c in claims) == loan.principal_outstanding

        def check_distributions(self, session: Session) -> None:
            """No (repayment, holding) pair twice; each claim received the sum of its distributions,
            and its principal is what it acquired less what it was repaid and what it sold."""
            twice = session.execute(
                select(Distribution.repayment_id, Distribution.holding_id)
                .group_by(Distribution.repayment_id, Distribution.holding_id)
                .having(func.count() > 1)
            ).all()
            assert twice == []
            received = {
                row.holding_id: row
                for row in session.execute(
                    select(
                        Distribution.holding_id,
                        func.sum(Distribution.principal).label("principal"),
                        func.sum(Distribution.interest).label("interest"),
                        func.sum(Distribution.penalty).label("penalty"),
                        func.sum(Distribution.prepayment_fee).label("prepayment_fee"),
                    ).group_by(Distribution.holding_id)
                )
            }
            sold = dict(
                session.execute(
                    select(TransferSale.seller_holding_id, func.sum(TransferSale.principal)).group_by(
                        TransferSale.seller_holding_id
                    )
                ).all()
            )
            for holding in session.scalars(select(Holding)):
                got = received.get(holding.id)
                assert holding.principal_received == (int(got.principal) if got else 0)
                assert holding.interest_received == (int(got.interest) if got else 0)
                assert holding.penalty_received == (int(got.penalty) if got else 0)
                assert holding.prepayment_fee_received == (int(got.prepayment_fee) if got else 0)
                assert holding.principal_outstanding == (
                    holding.principal_acquired - holding.principal_received - int(sold.get(holding.id, 0))
                )

    run_state_machine_as_test(
        MarketMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            database=None,
            # No shrinking: a failing run prints the steps as they ran (each replays days of
            # batches, so shrinking would take many minutes).
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The properties held because the paths ran, not because nothing happened.
    assert seen["disbursed"] and seen["auto_bids"] and seen["manual_bids"], seen
    assert seen["repayments"] and seen["early_repayments"], seen
    assert seen["sales"] and seen["repayments_reaching_a_buyer"] and seen["repayments_after_a_whole_sale"], (
        seen
    )
