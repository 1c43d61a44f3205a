"""The marketplace's business acts: list a loan, take bids, fund it, fail it, disburse it.

Money never passes through an account of the platform's (R1): a bid moves the investor's
own money from ``available`` to ``frozen`` (reserve); disbursement moves it from each
investor's ``frozen`` straight to the borrower's ``available`` (post), a failed or
withdrawn listing moves it back (void). At the custodian bank the same disbursement is one
transfer per investor between the two sub-accounts.

Every act locks the loan row first (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
serialises writers), so concurrent bids see one another and a listing can never be
funded beyond its amount (R44) — and the database's CHECK refuses it even if code erred.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.custody import service as custody
from p2plend.custody.errors import CustodyAccountRequired
from p2plend.custody.port import Custodian, TransferLeg
from p2plend.errors import DomainError, InsufficientFunds, InvalidInput
from p2plend.identity import service as identity
from p2plend.identity.errors import RealNameRequired
from p2plend.ledger import service as ledger
from p2plend.marketplace.errors import (
    BidBelowMinimum,
    BidCapExceeded,
    BidExceedsRemaining,
    BidNotInSteps,
    DisclosureIncomplete,
    FundingWindowTooLong,
    ListingFullyFunded,
    ListingNotOpen,
    LoanNotFound,
    LoanStateConflict,
    OwnLoan,
)
from p2plend.marketplace.models import Bid, Holding, Loan
from p2plend.money import fen_times_rate, yuan_str
from p2plend.schedules.service import Method
from p2plend.suitability import service as suitability
from p2plend.workcalendar import service as workcalendar

MAX_FUNDING_WORKING_DAYS = 20  # R8

# R48: what an investor sees of a loan before a bid is possible (DOMAIN.md §11, per loan).
REQUIRED_DISCLOSURE = (
    "borrower_type",  # 自然人 / 企业
    "borrower_name_masked",
    "industry",
    "income",
    "liabilities",
    "credit_overdues_6m",
    "other_platform_borrowing",
    "project_summary",
    "repayment_source",
    "safeguards",
    "risk_assessment",
)

# Listing states. A disbursed loan is serviced until settled.
PENDING, OPEN, FUNDED, DISBURSED, SETTLED, FAILED, WITHDRAWN = (
    "pending",
    "open",
    "funded",
    "disbursed",
    "settled",
    "failed",
    "withdrawn",
)
LISTED_STATES = (PENDING, OPEN, FUNDED)


@dataclass(frozen=True)
class NewListing:
    """An approved loan, with every term fixed: the listing copies them, so no later change
    to the product alters it."""

    borrower_id: int
    borrower_kind: str  # person | organisation
    product_code: str
    product_kind: str  # credit | mortgage | guaranteed | institution
    title: str
    purpose: str
    amount: int
    annual_rate: Decimal
    method: Method
    term_months: int | None
    term_days: int | None
    grade: str
    risk_class: str
    service_fee_rate: Decimal
    monthly_fee_rate: Decimal
    investor_fee_rate: Decimal
    prepayment_fee_rate: Decimal
    penalty_rate: Decimal  # 罚息利率 per year, already within the 4 × LPR cap
    min_bid: int
    bid_step: int
    max_share: Decimal
    funding_days: int
    disclosure: dict[str, Any]
    day_basis: int = 365
    application_id: int | None = None
    product_version_id: int | None = None
    guarantor_id: int | None = None
    late_fee: int = 0  # 逾期管理费 per overdue installment past grace
    guarantee_fee_rate: Decimal = Decimal(0)  # 担保费 to the guarantor at disbursement, of principal
    repayment_order: str = "components"  # servicing.RepaymentOrder, from the product version


# --- listing -----------------------------------------------------------------------------


def create_listing(session: Session, new: NewListing, *, actor_id: int | None) -> Loan:
    """An approved loan becomes a pending listing (待发布)."""
    missing = [key for key in REQUIRED_DISCLOSURE if new.disclosure.get(key) in (None, "")]
    if missing:
        raise DisclosureIncomplete(
            "A listing needs every per-loan disclosure field.", details={"missing": missing}
        )
    if new.amount <= 0 or new.min_bid <= 0 or new.bid_step <= 0:
        raise InvalidInput("Amount, minimum bid and bid step are positive amounts.")
    if not Decimal(0) < new.max_share <= Decimal(1):
        raise InvalidInput("The per-investor share is more than 0 and at most 1.")
    _check_funding_window(session, clock.today(), new.funding_days)
    loan = Loan(
        application_id=new.application_id,
        borrower_id=new.borrower_id,
        borrower_kind=new.borrower_kind,
        product_code=new.product_code,
        product_kind=new.product_kind,
        product_version_id=new.product_version_id,
        title=new.title,
        purpose=new.purpose,
        amount=new.amount,
        funded=0,
        annual_rate=new.annual_rate,
        method=new.method.value,
        term_months=new.term_months,
        term_days=new.term_days,
        day_basis=new.day_basis,
        grade=new.grade,
        risk_class=new.risk_class,
        service_fee_rate=new.service_fee_rate,
        monthly_fee_rate=new.monthly_fee_rate,
        investor_fee_rate=new.investor_fee_rate,
        prepayment_fee_rate=new.prepayment_fee_rate,
        repayment_order=new.repayment_order,
        penalty_rate=new.penalty_rate,
        late_fee=new.late_fee,
        guarantee_fee_rate=new.guarantee_fee_rate,
        min_bid=new.min_bid,
        bid_step=new.bid_step,
        max_share=new.max_share,
        funding_days=new.funding_days,
        guarantor_id=new.guarantor_id,
        status=PENDING,
        disclosure=new.disclosure,
        created_at=clock.now(),
        principal_outstanding=0,
    )
    session.add(loan)
    session.flush()
    _audit(session, actor_id, "loan.listed", loan, amount=yuan_str(loan.amount))
    return loan


def open_listing(session: Session, loan_id: int, *, actor_id: int | None) -> Loan:
    """发布: the listing takes bids from now until its funding deadline."""
    loan = _locked(session, loan_id)
    _require_state(loan, PENDING, "open")
    _check_funding_window(session, clock.today(), loan.funding_days)
    now = clock.now()
    loan.status = OPEN
    loan.opened_at = now
    loan.deadline = now + timedelta(days=loan.funding_days)
    session.flush()
    _audit(session, actor_id, "loan.opened", loan, deadline=loan.deadline.isoformat())
    return loan


def withdraw_listing(session: Session, loan_id: int, *, actor_id: int | None, reason: str) -> Loan:
    """撤标: staff take a listing down before disbursement (also the refusal at 满标复审);
    every bid is returned in full."""
    loan = _locked(session, loan_id)
    _require_state(loan, LISTED_STATES, "withdraw")
    if not reason.strip():
        raise InvalidInput("Say why the listing is withdrawn.")
    _close_unfunded(session, loan, WITHDRAWN, reason.strip())
    _audit(session, actor_id, "loan.withdrawn", loan, reason=reason.strip())
    return loan


def fail_expired_listings(session: Session, *, actor_id: int | None = None) -> list[int]:
    """流标: every open listing past its deadline fails and returns every bid (R8).

    ``actor_id``: the staff member who ran it by hand; None for the daily job."""
    now = clock.now()
    expired = session.scalars(
        select(Loan.id).where(Loan.status == OPEN, Loan.deadline <= now).order_by(Loan.id)
    ).all()
    failed = []
    for loan_id in expired:
        loan = _locked(session, loan_id)
        if loan.status == OPEN and loan.deadline is not None and loan.deadline <= now:
            _close_unfunded(session, loan, FAILED, "funding deadline passed")
            _audit(session, actor_id, "loan.failed", loan, funded=yuan_str(loan.funded))
            failed.append(loan_id)
    return failed


def _close_unfunded(session: Session, loan: Loan, status: str, reason: str) -> None:
    bids = _bids(session, loan.id, status="frozen")
    ledger.transfer_many(
        session,
        [
            ledger.Transfer(
                kind="bid_refund",
                source=ledger.user_frozen(bid.investor_id),
                destination=ledger.user_available(bid.investor_id),
                amount=bid.amount,
                idempotency_key=f"bid:{bid.id}:refund",
                ref_type="bid",
                ref_id=bid.id,
                memo=f"loan {loan.id} {status}",
            )
            for bid in bids
        ],
    )
    for bid in bids:
        bid.status = "refunded"
        bid.settled_at = clock.now()
    loan.status = status
    loan.closed_at = clock.now()
    loan.close_reason = reason[:200]
    session.flush()


def _check_funding_window(session: Session, start: date, days: int) -> None:
    """R8: at most 20 working days (工作日历, with holidays and 调休) after ``start``."""
    if days < 1:
        raise FundingWindowTooLong("A funding window is at least one day.")
    working = workcalendar.working_days_after(session, start, days)
    if working > MAX_FUNDING_WORKING_DAYS:
        raise FundingWindowTooLong(
            f"A funding window is at most {MAX_FUNDING_WORKING_DAYS} working days.",
            details={"days": days, "working_days": working},
        )


# --- bidding -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BidOrder:
    """One investor's bid as asked, before it is decided (``place_bids``)."""

    investor_id: int
    amount: int
    fill_remaining: bool = True
    source: str = "bid"  # bid | auto_bid


def place_bid(
    session: Session,
    *,
    investor_id: int,
    loan_id: int,
    amount: int,
    fill_remaining: bool = True,
    source: str = "bid",
) -> Bid:
    """投标: freeze the investor's funds and add them to the listing, in one transaction.

    A bid above what remains is filled for what remains unless ``fill_remaining`` is off;
    a bid below the minimum or off the step is accepted only when it completes the listing.
    """
    [outcome] = place_bids(session, loan_id, [BidOrder(investor_id, amount, fill_remaining, source)])
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def place_bids(session: Session, loan_id: int, orders: Sequence[BidOrder]) -> list[Bid | DomainError]:
    """Several bids on one listing (the bid queue's batch), each decided in turn, written together.

    Each order is decided against the listing, the investor's share of it, tier cap (R16) and
    balance as the orders before it left them: a refused order gets its own error and changes
    nothing, and the listing can never take more than its amount. The reads and writes are a
    fixed number of statements however many orders there are.
    """
    loan = _locked(session, loan_id)
    bidders = _Bidders.read(session, loan, sorted({order.investor_id for order in orders}))
    outcomes: list[Bid | DomainError] = []
    accepted: list[Bid] = []
    for order in orders:
        try:
            filled = _decide(loan, order, bidders)
        except DomainError as refusal:
            outcomes.append(refusal)
            continue
        bid = Bid(
            loan_id=loan.id,
            investor_id=order.investor_id,
            amount=filled,
            requested=order.amount,
            source=order.source,
            status="frozen",
            created_at=clock.now(),
        )
        bidders.take(order.investor_id, filled)
        loan.funded += filled
        if loan.funded == loan.amount:
            loan.status = FUNDED
            loan.funded_at = clock.now()
        accepted.append(bid)
        outcomes.append(bid)
    if accepted:
        _write_bids(session, loan, accepted)
    return outcomes


@dataclass
class _Bidders:
    """What the bidders of one batch have, read once with their ledger accounts locked."""

    verified: set[int]
    with_custody: set[int]
    assessments: dict[int, suitability.Assessment]
    available: dict[int, int]  # fen they can still freeze
    outstanding: dict[int, int]  # R16: holdings' principal plus frozen bids
    in_listing: dict[int, int]  # their frozen bids on this listing

    @classmethod
    def read(cls, session: Session, loan: Loan, investor_ids: list[int]) -> "_Bidders":
        # Locking their accounts first means any bid of theirs elsewhere has either committed
        # (and is counted below) or waits for this batch: R16's cap holds across listings.
        balances = ledger.lock_user_balances(session, investor_ids)
        return cls(
            verified=identity.verified_among(session, investor_ids),
            with_custody=custody.with_custody_accounts(session, investor_ids),
            assessments=suitability.latest_assessments(session, investor_ids),
            available={investor: b.available for investor, b in balances.items()},
            outstanding=_outstanding(session, investor_ids),
            in_listing=_frozen_in(session, loan.id, investor_ids),
        )

    def take(self, investor_id: int, amount: int) -> None:
        self.available[investor_id] -= amount
        self.outstanding[investor_id] = self.outstanding.get(investor_id, 0) + amount
        self.in_listing[investor_id] = self.in_listing.get(investor_id, 0) + amount


def _decide(loan: Loan, order: BidOrder, bidders: _Bidders) -> int:
    """The amount this order freezes, or the refusal — in the order a single bid checks them."""
    investor = order.investor_id
    if order.amount <= 0:
        raise InvalidInput("A bid is a positive amount.")
    _require_open(loan)
    if investor in (loan.borrower_id, loan.guarantor_id):
        raise OwnLoan("You cannot lend to your own loan.")
    if investor not in bidders.verified:  # R14: verified real-name lenders only
        raise RealNameRequired("Complete real-name verification first.")
    if investor not in bidders.with_custody:
        raise CustodyAccountRequired("Open your custody account before lending.")
    filled = _fill(loan, order.amount, loan.amount - loan.funded, order.fill_remaining)
    _check_share(loan, bidders.in_listing.get(investor, 0), filled)
    suitability.check_may_lend(
        investor,
        bidders.assessments.get(investor),
        risk_class=loan.risk_class,
        outstanding_fen=bidders.outstanding.get(investor, 0),
        amount_fen=filled,
    )
    if bidders.available.get(investor, 0) < filled:
        raise InsufficientFunds(
            "Not enough available balance for this operation.",
            details={"account": ledger.user_available(investor), "needed": filled},
        )
    return filled


def _write_bids(session: Session, loan: Loan, bids: list[Bid]) -> None:
    session.add_all(bids)
    session.flush()
    ledger.transfer_many(
        session,
        [
            ledger.Transfer(
                kind="bid_freeze",
                source=ledger.user_available(bid.investor_id),
                destination=ledger.user_frozen(bid.investor_id),
                amount=bid.amount,
                idempotency_key=f"bid:{bid.id}:freeze",
                ref_type="bid",
                ref_id=bid.id,
                memo=f"bid on loan {loan.id}",
            )
            for bid in bids
        ],
    )
    audit.record_all(
        session,
        [
            audit.Event(
                bid.investor_id,
                "bid.placed",
                "loan",
                loan.id,
                {"bid_id": bid.id, "amount": yuan_str(bid.amount)},
            )
            for bid in bids
        ],
    )


def _outstanding(session: Session, investor_ids: list[int]) -> dict[int, int]:
    """``lending_outstanding`` of each investor, in two queries."""
    held = session.execute(
        select(Holding.holder_id, func.sum(Holding.principal_outstanding))
        .where(Holding.holder_id.in_(investor_ids))
        .group_by(Holding.holder_id)
    )
    frozen = session.execute(
        select(Bid.investor_id, func.sum(Bid.amount))
        .where(Bid.investor_id.in_(investor_ids), Bid.status == "frozen")
        .group_by(Bid.investor_id)
    )
    totals: dict[int, int] = {}
    for investor, amount in [*held, *frozen]:
        totals[investor] = totals.get(investor, 0) + int(amount or 0)
    return totals


def _frozen_in(session: Session, loan_id: int, investor_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(Bid.investor_id, func.sum(Bid.amount))
        .where(Bid.loan_id == loan_id, Bid.investor_id.in_(investor_ids), Bid.status == "frozen")
        .group_by(Bid.investor_id)
    )
    return {investor: int(amount or 0) for investor, amount in rows}


def _require_open(loan: Loan) -> None:
    if loan.status == FUNDED:
        raise ListingFullyFunded("This listing is fully funded.")
    if loan.status != OPEN or loan.deadline is None or loan.deadline <= clock.now():
        raise ListingNotOpen("This listing is not open for bids.", details={"status": loan.status})


def _fill(loan: Loan, amount: int, remaining: int, fill_remaining: bool) -> int:
    if amount > remaining:
        if not fill_remaining:
            raise BidExceedsRemaining(
                f"Only {yuan_str(remaining)} yuan remains on this listing.",
                details={"remaining": yuan_str(remaining)},
            )
        return remaining
    if amount == remaining:
        return amount  # the last bid completes the listing, whatever its size
    if amount < loan.min_bid:
        raise BidBelowMinimum(
            f"The minimum bid is {yuan_str(loan.min_bid)} yuan.", details={"min_bid": yuan_str(loan.min_bid)}
        )
    if amount % loan.bid_step:
        raise BidNotInSteps(
            f"Bids go in steps of {yuan_str(loan.bid_step)} yuan.", details={"step": yuan_str(loan.bid_step)}
        )
    return amount


def investor_cap(loan: Loan) -> int:
    """The most one investor may lend into this listing (DOMAIN.md §5, default 50 %)."""
    return int(loan.amount * loan.max_share)


def _check_share(loan: Loan, already: int, filled: int) -> None:
    cap = investor_cap(loan)
    if already + filled > cap:
        raise BidCapExceeded(
            f"One investor may lend at most {yuan_str(cap)} yuan to this loan.",
            details={"cap": yuan_str(cap), "already": yuan_str(already)},
        )


# --- disbursement ------------------------------------------------------------------------


def disburse_listing(session: Session, loan_id: int, custodian: Custodian, *, actor_id: int) -> Loan:
    """满标复审 approved → 放款: each investor's frozen funds go to the borrower, the service
    fee to the platform, the guarantee fee (if any) to the guarantor, and one holding per
    investor records the claim.

    The caller (servicing) fixes the repayment schedule in the same transaction.
    """
    loan = _locked(session, loan_id)
    _require_state(loan, FUNDED, "disburse")
    bids = _bids(session, loan.id, status="frozen")
    by_investor = _amounts_by_investor(bids)
    fee = fen_times_rate(loan.amount, loan.service_fee_rate)
    # Every party's sub-account in one read (a loan may have hundreds of investors).
    parties = [loan.borrower_id, *by_investor, *([loan.guarantor_id] if loan.guarantor_id else [])]
    subs = custody.sub_accounts_of(session, parties)
    borrower_sub = subs[loan.borrower_id]
    legs = [TransferLeg(subs[i], borrower_sub, lent) for i, lent in by_investor.items()]
    if fee:
        platform_sub = custody.open_platform_fee_account(session, custodian).sub_account_no
        legs.append(TransferLeg(borrower_sub, platform_sub, fee))
    guarantee_fee = fen_times_rate(loan.amount, loan.guarantee_fee_rate) if loan.guarantor_id else 0
    if guarantee_fee:
        assert loan.guarantor_id is not None
        legs.append(TransferLeg(borrower_sub, subs[loan.guarantor_id], guarantee_fee))
    ledger.post(
        session,
        kind="disbursement",
        legs=[ledger.Leg(ledger.user_frozen(i), -lent) for i, lent in by_investor.items()]
        + [ledger.Leg(ledger.user_available(loan.borrower_id), loan.amount)],
        idempotency_key=f"loan:{loan.id}:disburse",
        ref_type="loan",
        ref_id=loan.id,
        memo=f"loan {loan.id} disbursed",
    )
    if fee:
        ledger.transfer(
            session,
            kind="service_fee",
            source=ledger.user_available(loan.borrower_id),
            destination=ledger.PLATFORM_FEE_INCOME,
            amount=fee,
            idempotency_key=f"loan:{loan.id}:service_fee",
            ref_type="loan",
            ref_id=loan.id,
            memo="borrower service fee",
        )
    if guarantee_fee:
        assert loan.guarantor_id is not None
        ledger.transfer(
            session,
            kind="guarantee_fee",
            source=ledger.user_available(loan.borrower_id),
            destination=ledger.user_available(loan.guarantor_id),
            amount=guarantee_fee,
            idempotency_key=f"loan:{loan.id}:guarantee_fee",
            ref_type="loan",
            ref_id=loan.id,
            memo="guarantee fee to the guarantor",
        )
    # The bank moves last: a refusal above leaves nothing to undo there.
    custody.transfer_at_bank(session, custodian, f"DSB{loan.id}", legs)
    now = clock.now()
    for bid in bids:
        bid.status = "disbursed"
        bid.settled_at = now
    _create_holdings(session, loan, bids, now)
    loan.status = DISBURSED
    loan.disbursed_at = now
    loan.value_date = clock.today()
    loan.service_fee = fee
    loan.guarantee_fee = guarantee_fee
    loan.principal_outstanding = loan.amount
    session.flush()
    _audit(session, actor_id, "loan.disbursed", loan, amount=yuan_str(loan.amount), service_fee=yuan_str(fee))
    return loan


def _amounts_by_investor(bids: Sequence[Bid]) -> dict[int, int]:
    totals: dict[int, int] = {}
    for bid in bids:  # in bid order: the first bidder's holding is created first
        totals[bid.investor_id] = totals.get(bid.investor_id, 0) + bid.amount
    return totals


def _create_holdings(session: Session, loan: Loan, bids: Sequence[Bid], now: datetime) -> None:
    sources: dict[int, str] = {}
    for bid in bids:
        # A holding bought by any manual bid counts as a bid; only a wholly automatic one as auto_bid.
        sources[bid.investor_id] = "bid" if bid.source == "bid" else sources.get(bid.investor_id, bid.source)
    for investor_id, lent in _amounts_by_investor(bids).items():
        session.add(
            Holding(
                loan_id=loan.id,
                holder_id=investor_id,
                principal_outstanding=lent,
                principal_acquired=lent,
                acquired_at=now,
                source=sources[investor_id],
            )
        )
    session.flush()


def acquire_by_compensation(session: Session, loan_id: int, payer_id: int, principal: int) -> Holding:
    """代偿受让: the payer's claim on the loan (source ``compensation``) grows by ``principal``,
    which the investors' claims gave up in the same transaction (holdings contract)."""
    holding = session.scalars(
        select(Holding).where(
            Holding.loan_id == loan_id, Holding.holder_id == payer_id, Holding.source == "compensation"
        )
    ).first()
    if holding is None:
        holding = Holding(
            loan_id=loan_id,
            holder_id=payer_id,
            principal_outstanding=0,
            principal_acquired=0,
            acquired_at=clock.now(),
            source="compensation",
        )
        session.add(holding)
    holding.principal_outstanding += principal
    holding.principal_acquired += principal
    session.flush()
    return holding


PARTNER_CLAIM = "partner_claim"  # 机构债权 (P2B): a loan a partner institution made outside
PARTNER = "partner"  # the source of the institution's own holding of its claim


def book_partner_claim(session: Session, new: NewListing, *, actor_id: int | None) -> tuple[Loan, Holding]:
    """机构债权入账: a loan the partner institution (``new.borrower_id``) already made outside the
    platform, booked directly in repayment — value date today, every unit of principal held by
    the institution (one holding, source ``partner``). No money moves: the institution lent it
    outside; it services the loan and offers the claim on the transfer market.

    The caller (p2b) fixes the schedule in the same transaction."""
    loan = create_listing(session, replace(new, product_kind=PARTNER_CLAIM), actor_id=actor_id)
    now = clock.now()
    loan.status = DISBURSED
    loan.funded = loan.amount
    loan.principal_outstanding = loan.amount
    loan.opened_at = loan.funded_at = loan.disbursed_at = now
    loan.value_date = clock.today()
    holding = Holding(
        loan_id=loan.id,
        holder_id=loan.borrower_id,
        principal_outstanding=loan.amount,
        principal_acquired=loan.amount,
        acquired_at=now,
        source=PARTNER,
    )
    session.add(holding)
    session.flush()
    _audit(session, actor_id, "loan.partner_claim_booked", loan, amount=yuan_str(loan.amount))
    return loan, holding


def sub_account_of(session: Session, user_id: int) -> str:
    return custody.sub_accounts_of(session, [user_id])[user_id]


# --- reading -----------------------------------------------------------------------------


def get_loan(session: Session, loan_id: int) -> Loan:
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise LoanNotFound("No such loan.", details={"loan_id": loan_id})
    return loan


def lock_loan(session: Session, loan_id: int) -> Loan:
    """The loan row, locked for the rest of the transaction (servicing's acts start here)."""
    return _locked(session, loan_id)


def lock_loans(session: Session, loan_ids: Sequence[int]) -> list[Loan]:
    """``lock_loan`` for several loans, locked in id order (no deadlocks); in that order."""
    return list(
        session.scalars(
            select(Loan)
            .where(Loan.id.in_(loan_ids))
            .order_by(Loan.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    )


def loans(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    borrower_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Loan]:
    query = select(Loan).order_by(Loan.id.desc()).limit(limit).offset(offset)
    if statuses:
        query = query.where(Loan.status.in_(statuses))
    if borrower_id is not None:
        query = query.where(Loan.borrower_id == borrower_id)
    return list(session.scalars(query).all())


def bids_of_loan(session: Session, loan_id: int) -> list[Bid]:
    return list(session.scalars(select(Bid).where(Bid.loan_id == loan_id).order_by(Bid.id)).all())


def bids_of_investor(session: Session, investor_id: int, *, limit: int = 100) -> list[Bid]:
    return list(
        session.scalars(
            select(Bid).where(Bid.investor_id == investor_id).order_by(Bid.id.desc()).limit(limit)
        ).all()
    )


def holdings_of_loan(session: Session, loan_id: int) -> list[Holding]:
    """The loan's live claims in DOMAIN.md §3's tie order: earlier acquisition, lower id."""
    return holdings_of_loans(session, [loan_id]).get(loan_id, [])


def holdings_of_loans(session: Session, loan_ids: Sequence[int]) -> dict[int, list[Holding]]:
    """``holdings_of_loan`` for several loans, in one read."""
    found: dict[int, list[Holding]] = {}
    for holding in session.scalars(
        select(Holding)
        .where(Holding.loan_id.in_(loan_ids), Holding.principal_outstanding > 0)
        .order_by(Holding.loan_id, Holding.acquired_at, Holding.id)
    ):
        found.setdefault(holding.loan_id, []).append(holding)
    return found


def holdings_of_holder(session: Session, holder_id: int) -> list[Holding]:
    return list(
        session.scalars(select(Holding).where(Holding.holder_id == holder_id).order_by(Holding.id)).all()
    )


def lending_outstanding(session: Session, investor_id: int) -> int:
    """What a lender has at stake: their claims' principal plus bids still frozen (R16's cap)."""
    held = session.scalar(
        select(func.coalesce(func.sum(Holding.principal_outstanding), 0)).where(
            Holding.holder_id == investor_id
        )
    )
    frozen = session.scalar(
        select(func.coalesce(func.sum(Bid.amount), 0)).where(
            Bid.investor_id == investor_id, Bid.status == "frozen"
        )
    )
    return int(held or 0) + int(frozen or 0)


def bid_total(session: Session, investor_id: int, *, source: str) -> int:
    """The investor's bids of ``source`` not returned: frozen, or disbursed into a loan."""
    total = session.scalar(
        select(func.coalesce(func.sum(Bid.amount), 0)).where(
            Bid.investor_id == investor_id, Bid.source == source, Bid.status.in_(("frozen", "disbursed"))
        )
    )
    return int(total or 0)


def committed_principal(session: Session, borrower_id: int) -> int:
    """A borrower's principal on the platform for the caps of R4–R6: listed (not yet
    disbursed) loans at their amount, disbursed ones at their outstanding principal.
    Partner claims (P2B) are not counted: the institution services them, the debtor is another."""
    listed = session.scalar(
        select(func.coalesce(func.sum(Loan.amount), 0)).where(
            Loan.borrower_id == borrower_id, Loan.status.in_(LISTED_STATES)
        )
    )
    outstanding = session.scalar(
        select(func.coalesce(func.sum(Loan.principal_outstanding), 0)).where(
            Loan.borrower_id == borrower_id, Loan.status == DISBURSED, Loan.product_kind != PARTNER_CLAIM
        )
    )
    return int(listed or 0) + int(outstanding or 0)


def _bids(session: Session, loan_id: int, *, status: str) -> list[Bid]:
    return list(
        session.scalars(
            select(Bid).where(Bid.loan_id == loan_id, Bid.status == status).order_by(Bid.id)
        ).all()
    )


def _locked(session: Session, loan_id: int) -> Loan:
    loan = session.scalars(
        select(Loan).where(Loan.id == loan_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if loan is None:
        raise LoanNotFound("No such loan.", details={"loan_id": loan_id})
    return loan


def _require_state(loan: Loan, allowed: str | Sequence[str], act: str) -> None:
    states = (allowed,) if isinstance(allowed, str) else tuple(allowed)
    if loan.status not in states:
        raise LoanStateConflict(
            f"Cannot {act} a loan that is {loan.status}.",
            details={"status": loan.status, "expected": list(states)},
        )


def _audit(session: Session, actor_id: int | None, action: str, loan: Loan, **details: object) -> None:
    audit.record(
        session, actor_id=actor_id, action=action, object_type="loan", object_id=loan.id, details=details
    )
