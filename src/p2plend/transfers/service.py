"""债权转让: the debt-transfer (secondary) market, DOMAIN.md §9, R15, R38–R42.

A holder lists all or part of a holding (``list_for_sale``) once it is eligible (R38); its
value V is the part's principal plus the interest accrued on it in the current period
(DOMAIN.md §2.5: rd(Z·D1/D2), Z the part's share of the period's scheduled interest); the
price is V × (1 − d) with 0 ≤ d ≤ 5 % [D] (R39). Buyers buy parts (``buy``): the buyer's
money goes straight to the seller's sub-account, the seller's fee (0.5 % of the price [D],
none once held more than 90 days) to the platform — one ledger entry and one custodian
batch instruction — and the claim moves at that instant: the seller's holding shrinks by
the part and the buyer gets a new holding (source ``transfer``). Repayments are split by
the holdings on the payment date, so the buyer receives the whole next installment share
and the seller nothing more from that part (R41); no schedule is touched.

Prices move with the days: a listing keeps d and the part's period interest Z, and a part
bought on day t costs its share of that day's listing price. The shares are cumulative —
part = P_t(sold + q) − P_t(sold), P_t(x) = rd(price_t · x / offered) — so the parts bought
on one day always sum exactly to that day's price of the listing; no fen is created or lost.

Concurrency (R42): a purchase locks the loan (as every repayment does), then the listing
row, and moves ``sold`` with a conditional UPDATE (sold + q ≤ principal) under a CHECK
constraint: two buyers can never buy the same part, and no repayment can split a loan
while a claim on it is changing hands. Any payment on the loan, a prepayment, a
compensation, an overdue or expiry closes its open listings (R40).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.collections import service as collections
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.errors import CustodyAccountRequired
from p2plend.custody.port import Custodian, TransferLeg
from p2plend.guarantee import service as guarantee
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace import transfer_listings as listings
from p2plend.marketplace.errors import OwnLoan
from p2plend.marketplace.models import Holding, Loan
from p2plend.marketplace.transfer_listings import TransferListing, TransferSale
from p2plend.money import allocate, fen_times_rate, round_fen, yuan_str
from p2plend.schedules.service import accrued_interest, period_bounds
from p2plend.servicing import service as servicing
from p2plend.servicing import statements
from p2plend.servicing.models import ScheduledInstallment
from p2plend.suitability import service as suitability
from p2plend.transfers.errors import (
    AlreadyListed,
    DiscountOutOfRange,
    DueDateToday,
    DueDateTooClose,
    FinalPeriod,
    HoldingNotFound,
    HoldingTooRecent,
    InstallmentPaidAhead,
    LoanCompensated,
    LoanInCollections,
    LoanNotInRepayment,
    LoanOverdue,
    LoanWrittenOff,
    OwnTransfer,
    TransferAmountInvalid,
    TransferExceedsRemaining,
    TransferListingNotFound,
    TransferListingNotOpen,
    TransferNotEligible,
)

TRANSFER = "transfer"  # the source of a holding bought on this market
_DISCOUNT = re.compile(r"^0(\.[0-9]{1,4})?$")
OPEN = listings.OPEN


# --- the rules as settings ([D]) ----------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    min_holding_days: int
    blackout_days: int
    max_discount: Decimal
    fee_rate: Decimal
    fee_free_after_days: int
    listing_days: int


def rules() -> Rules:
    settings = get_settings()
    return Rules(
        min_holding_days=settings.transfer_min_holding_days,
        blackout_days=settings.transfer_blackout_days,
        max_discount=settings.transfer_max_discount,
        fee_rate=settings.transfer_fee_rate,
        fee_free_after_days=settings.transfer_fee_free_after_days,
        listing_days=settings.transfer_listing_days,
    )


# --- the arithmetic (pure) ------------------------------------------------------------------


def cumulative(total: int, done: int, whole: int) -> int:
    """rd(total × done / whole): the part of ``total`` that ``done`` of ``whole`` carries, so
    that slices of ``whole`` sum exactly to ``total`` (``cumulative(t, w, w) == t``)."""
    if whole <= 0 or not 0 <= done <= whole:
        raise ValueError("cumulative() needs 0 <= done <= whole, whole > 0")
    return round_fen(Decimal(total) * done / whole)


def slice_of(total: int, start: int, end: int, whole: int) -> int:
    """The share of ``total`` of the principal from ``start`` to ``end`` of ``whole``."""
    return cumulative(total, end, whole) - cumulative(total, start, whole)


def price_of(value: int, discount_rate: Decimal) -> int:
    """R39: rd(V × (1 − d))."""
    return round_fen(Decimal(value) * (1 - discount_rate))


@dataclass(frozen=True)
class Price:
    """What ``principal`` of a claim is worth and costs on ``on`` (DOMAIN.md §9)."""

    on: date
    principal: int
    accrued_interest: int
    discount_rate: Decimal
    price: int
    fee: int

    @property
    def value(self) -> int:
        """V: the principal plus the interest accrued on it in the current period."""
        return self.principal + self.accrued_interest

    @property
    def seller_net(self) -> int:
        return self.price - self.fee

    @property
    def discount(self) -> int:
        return self.value - self.price


def day_price(listing: TransferListing, on: date) -> Price:
    """The whole listing's value and price on ``on`` (its offered principal, sold or not)."""
    accrued = accrued_interest(listing.period_interest, listing.period_start, listing.period_end, on)
    price = price_of(listing.principal + accrued, Decimal(listing.discount_rate))
    return Price(
        on=on,
        principal=listing.principal,
        accrued_interest=accrued,
        discount_rate=Decimal(listing.discount_rate),
        price=price,
        fee=fen_times_rate(price, Decimal(listing.fee_rate)),
    )


def part_price(listing: TransferListing, start: int, principal: int, on: date) -> Price:
    """The price on ``on`` of ``principal`` bought after ``start`` of the listing was sold:
    its cumulative slice of the day's accrued interest, discount and fee. The price is the
    part's value less its slice of the discount — never a slice of the price, whose rounding
    could ask a fen more than the part is worth (no premium, R39)."""
    whole = day_price(listing, on)
    end = start + principal
    accrued = slice_of(whole.accrued_interest, start, end, listing.principal)
    return Price(
        on=on,
        principal=principal,
        accrued_interest=accrued,
        discount_rate=whole.discount_rate,
        price=principal + accrued - slice_of(whole.discount, start, end, listing.principal),
        fee=slice_of(whole.fee, start, end, listing.principal),
    )


# --- eligibility (R38) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The installment whose period ``on`` falls in, and that period's bounds."""

    installment: ScheduledInstallment
    start: date
    end: date


def _own_holding(session: Session, seller_id: int, holding_id: int, *, lock: bool = False) -> Holding:
    query = select(Holding).where(Holding.id == holding_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    holding = session.scalars(query).first()
    if holding is None or holding.holder_id != seller_id:
        raise HoldingNotFound("No such holding of yours.", details={"holding_id": holding_id})
    return holding


def _held_days(holding: Holding, on: date) -> int:
    return (on - clock.business_date_of(holding.acquired_at)).days


def check_loan(session: Session, loan: Loan, on: date) -> Period:
    """The loan-side rules of R38, each with its own code; the current period when they hold.

    Also what a purchase re-checks: the loan still current and in the period priced."""
    if loan.status != marketplace.DISBURSED:
        raise LoanNotInRepayment("This loan is not being repaid.", details={"status": loan.status})
    if collections.written_off_loans(session, [loan.id]):
        raise LoanWrittenOff("This loan is written off (核销).")
    if guarantee.compensations_of_loan(session, loan.id):
        raise LoanCompensated("A guarantor has compensated this loan (代偿).")
    if loan.id in set(collections.loans_with_open_cases(session)):
        raise LoanInCollections("This loan is in collections (催收).")
    unpaid = servicing.unpaid_installments(session, loan.id)
    if loan.days_past_due > 0 or any(row.due_date < on for row in unpaid):
        raise LoanOverdue("This loan is overdue.", details={"days_past_due": loan.days_past_due})
    if not unpaid:
        raise LoanNotInRepayment("Nothing is left to repay on this loan.")
    if any(row.due_date == on for row in servicing.schedule(session, loan.id)):
        raise DueDateToday("Today is a due date of this loan: claims are not traded today.")
    current = unpaid[0]
    start = period_bounds(servicing.terms_of(loan), current.number)[0]
    end = current.due_date
    if start > on or current.paid_principal or current.paid_interest or current.compensated_by:
        raise InstallmentPaidAhead("The current installment was paid ahead of its date.")
    return Period(current, start, end)


def check_eligible(session: Session, loan: Loan, holding: Holding, on: date) -> Period:
    """R38 (DOMAIN.md §9): every rule, each with its own refusal code."""
    held = _held_days(holding, on)
    settings = rules()
    # A partner institution's own claim (P2B) is offered from the day it is booked.
    if held < settings.min_holding_days and holding.source != marketplace.PARTNER:
        raise HoldingTooRecent(
            f"A claim can be transferred once held {settings.min_holding_days} days.",
            details={"held_days": held, "min_days": settings.min_holding_days},
        )
    period = check_loan(session, loan, on)
    days_to_due = (period.installment.due_date - on).days
    if days_to_due < settings.blackout_days:
        raise DueDateTooClose(
            f"The next due date is fewer than {settings.blackout_days} days away.",
            details={"due_date": period.installment.due_date.isoformat(), "days": days_to_due},
        )
    if len(servicing.unpaid_installments(session, loan.id)) < 2:
        raise FinalPeriod("A claim in its final period is not transferred.")
    return period


def _period_interest_of(session: Session, loan: Loan, holding: Holding, period: Period) -> int:
    """Z of the holding: its share of the period's scheduled interest, split among the
    loan's holdings as a payment today would split it (DOMAIN.md §3)."""
    holdings = marketplace.holdings_of_loan(session, loan.id)
    weights = [h.principal_outstanding for h in holdings]
    index = next(i for i, h in enumerate(holdings) if h.id == holding.id)
    return allocate(period.installment.interest, weights)[index]


def _offered(loan: Loan, holding: Holding, principal: int | None) -> int:
    if principal is None or principal == holding.principal_outstanding:
        return holding.principal_outstanding
    if principal <= 0 or principal > holding.principal_outstanding:
        raise TransferAmountInvalid(
            f"You hold {yuan_str(holding.principal_outstanding)} yuan of this claim.",
            details={"held": yuan_str(holding.principal_outstanding)},
        )
    if principal < loan.min_bid:
        raise TransferAmountInvalid(
            f"A part is at least the minimum bid, {yuan_str(loan.min_bid)} yuan.",
            details={"min_bid": yuan_str(loan.min_bid)},
        )
    return principal


def _check_discount(discount_rate: Decimal) -> None:
    limit = rules().max_discount
    if not Decimal(0) <= discount_rate <= limit or discount_rate != discount_rate.quantize(Decimal("0.0001")):
        raise DiscountOutOfRange(
            f"The discount is between 0 and {limit * 100} % (at most 4 decimals); no premium.",
            details={"max": format(limit, "f")},
        )


def parse_discount(text: str) -> Decimal:
    """A discount typed by a person or a client: a decimal fraction (``"0.005"`` is 0.5 %)
    with at most 4 decimals, within R39's bounds; anything else is ``transfer_discount_out_of_range``."""
    if not _DISCOUNT.fullmatch(text):
        raise DiscountOutOfRange(
            'The discount is a decimal fraction such as "0.005" (0.5 %), at most 4 decimals.',
            details={"value": text, "max": format(rules().max_discount, "f")},
        )
    rate = Decimal(text)
    _check_discount(rate)
    return rate


def fee_rate_for(holding: Holding, on: date) -> Decimal:
    """The seller's fee rate: 0.5 % [D] of the price, none once held more than 90 days [D]."""
    settings = rules()
    return Decimal(0) if _held_days(holding, on) > settings.fee_free_after_days else settings.fee_rate


# --- the seller's quote and listing ---------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """What listing ``principal`` of a holding at ``discount_rate`` would fetch today."""

    holding_id: int
    loan_id: int
    installment_number: int
    period_start: date
    period_end: date
    period_interest: int  # Z of the part
    fee_rate: Decimal
    price: Price
    buyer_xirr: Decimal | None

    @property
    def days_elapsed(self) -> int:
        return (self.price.on - self.period_start).days

    @property
    def period_days(self) -> int:
        return (self.period_end - self.period_start).days


def quote(
    session: Session,
    *,
    seller_id: int,
    holding_id: int,
    principal: int | None = None,
    discount_rate: Decimal = Decimal(0),
) -> Quote:
    """转让报价: the value, price, fee and the buyer's yield of listing ``principal`` (None:
    the whole holding) today. Refuses as ``list_for_sale`` would; stores nothing."""
    holding = _own_holding(session, seller_id, holding_id)
    loan = marketplace.get_loan(session, holding.loan_id)
    return _quote(session, loan, holding, principal=principal, discount_rate=discount_rate, on=clock.today())


def _quote(
    session: Session, loan: Loan, holding: Holding, *, principal: int | None, discount_rate: Decimal, on: date
) -> Quote:
    _check_discount(discount_rate)
    period = check_eligible(session, loan, holding, on)
    offered = _offered(loan, holding, principal)
    z_holding = _period_interest_of(session, loan, holding, period)
    z = allocate(z_holding, [offered, holding.principal_outstanding - offered])[0]
    accrued = accrued_interest(z, period.start, period.end, on)
    fee_rate = fee_rate_for(holding, on)
    price = price_of(offered + accrued, discount_rate)
    result = Price(on, offered, accrued, discount_rate, price, fen_times_rate(price, fee_rate))
    return Quote(
        holding_id=holding.id,
        loan_id=loan.id,
        installment_number=period.installment.number,
        period_start=period.start,
        period_end=period.end,
        period_interest=z,
        fee_rate=fee_rate,
        price=result,
        buyer_xirr=buyer_xirr(
            session, loan, seller_holding_id=holding.id, principal=offered, price=result.price, on=on
        ),
    )


def list_for_sale(
    session: Session,
    *,
    seller_id: int,
    holding_id: int,
    principal: int | None = None,
    discount_rate: Decimal = Decimal(0),
) -> TransferListing:
    """挂牌转让: offer ``principal`` (None: the whole holding) at ``discount_rate`` off its
    value, for the listing days (3 [D]). R38's rules, each with its own code (R38)."""
    first = _own_holding(session, seller_id, holding_id)
    loan = marketplace.lock_loan(session, first.loan_id)
    holding = _own_holding(session, seller_id, holding_id, lock=True)
    if session.scalar(
        select(TransferListing.id).where(
            TransferListing.holding_id == holding.id, TransferListing.status == OPEN
        )
    ):
        raise AlreadyListed(
            "This holding is already listed for transfer.", details={"holding_id": holding.id}
        )
    today = clock.today()
    offer = _quote(session, loan, holding, principal=principal, discount_rate=discount_rate, on=today)
    now = clock.now()
    listing = TransferListing(
        loan_id=loan.id,
        holding_id=holding.id,
        seller_id=seller_id,
        principal=offer.price.principal,
        sold=0,
        discount_rate=discount_rate,
        fee_rate=offer.fee_rate,
        installment_number=offer.installment_number,
        period_start=offer.period_start,
        period_end=offer.period_end,
        period_interest=offer.period_interest,
        listed_on=today,
        accrued_interest=offer.price.accrued_interest,
        price=offer.price.price,
        fee=offer.price.fee,
        status=OPEN,
        close_reason="",
        created_at=now,
        expires_at=now + timedelta(days=rules().listing_days),
    )
    session.add(listing)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # another listing of the holding committed first
        raise AlreadyListed("This holding is already listed for transfer.") from exc
    audit.record(
        session,
        actor_id=seller_id,
        action="transfer.listed",
        object_type="transfer_listing",
        object_id=listing.id,
        details={
            "loan_id": loan.id,
            "holding_id": holding.id,
            "principal": yuan_str(listing.principal),
            "value": yuan_str(offer.price.value),
            "discount_rate": format(discount_rate, "f"),
            "price": yuan_str(listing.price),
            "fee": yuan_str(listing.fee),
        },
    )
    return listing


def cancel_listing(session: Session, *, seller_id: int, listing_id: int) -> TransferListing:
    """撤销转让: the seller withdraws what is still unsold; parts already sold stay sold."""
    first = get_listing(session, listing_id)
    if first.seller_id != seller_id:
        raise TransferListingNotFound(
            "No such transfer listing of yours.", details={"listing_id": listing_id}
        )
    marketplace.lock_loan(session, first.loan_id)
    listing = _locked_listing(session, listing_id)
    if listing.status != OPEN:
        raise TransferListingNotOpen("This listing is no longer open.", details={"status": listing.status})
    _close(session, listing, listings.CANCELLED, listings.SELLER, actor_id=seller_id)
    return listing


def _close(
    session: Session, listing: TransferListing, status: str, reason: str, *, actor_id: int | None
) -> None:
    listing.status, listing.close_reason, listing.closed_at = status, reason, clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action=f"transfer.{status}",
        object_type="transfer_listing",
        object_id=listing.id,
        details={"loan_id": listing.loan_id, "reason": reason, "sold": yuan_str(listing.sold)},
    )


# --- buying ---------------------------------------------------------------------------------


def _purchase_amount(loan: Loan, listing: TransferListing, principal: int) -> int:
    """The whole remainder, or a part ≥ the minimum bid on the bid step (as bids)."""
    remaining = listing.remaining
    if principal == remaining:
        return principal
    if principal <= 0:
        raise TransferAmountInvalid("A purchase is a positive amount of principal.")
    if principal > remaining:
        raise TransferExceedsRemaining(
            f"Only {yuan_str(remaining)} yuan of this claim is still offered.",
            details={"remaining": yuan_str(remaining)},
        )
    if principal < loan.min_bid or principal % loan.bid_step:
        raise TransferAmountInvalid(
            f"Buy the whole {yuan_str(remaining)} yuan, or a part of at least "
            f"{yuan_str(loan.min_bid)} yuan in steps of {yuan_str(loan.bid_step)} yuan.",
            details={
                "remaining": yuan_str(remaining),
                "min_bid": yuan_str(loan.min_bid),
                "step": yuan_str(loan.bid_step),
            },
        )
    return principal


def _require_open(listing: TransferListing) -> None:
    if listing.status != OPEN or listing.expires_at <= clock.now():
        raise TransferListingNotOpen(
            "This transfer listing is not open.",
            details={"status": listing.status if listing.status != OPEN else listings.EXPIRED},
        )


def buy(
    session: Session,
    *,
    buyer_id: int,
    listing_id: int,
    principal: int | None = None,
    custodian: Custodian,
) -> TransferSale:
    """购买债权: ``principal`` of the listing (None: all that remains) at today's price, in one
    transaction: the buyer's money to the seller, the fee to the platform (R39), the claim
    to the buyer (a new holding; the seller's shrinks) — R15/R16 for the buyer, never the
    borrower nor the seller. R42: the loan and the listing are locked and ``sold`` moves by a
    conditional UPDATE, so no part is sold twice."""
    first = get_listing(session, listing_id)
    loan = marketplace.lock_loan(session, first.loan_id)
    listing = _locked_listing(session, listing_id)
    _require_open(listing)
    if buyer_id == listing.seller_id:
        raise OwnTransfer("You cannot buy your own claim.")
    if buyer_id in (loan.borrower_id, loan.guarantor_id):
        raise OwnLoan("You cannot lend to your own loan.")
    identity.verified_identity(session, buyer_id)  # R14
    if custody.custody_account_of(session, buyer_id) is None:
        raise CustodyAccountRequired("Open your custody account before lending.")
    today = clock.today()
    period = check_loan(session, loan, today)
    if period.installment.number != listing.installment_number or today >= listing.period_end:
        raise TransferListingNotOpen("The claim's period has changed since it was listed.")
    amount = _purchase_amount(loan, listing, listing.remaining if principal is None else principal)
    suitability.require_may_lend(
        session,
        buyer_id,
        risk_class=loan.risk_class,
        outstanding_fen=marketplace.lending_outstanding(session, buyer_id),
        amount_fen=amount,
    )
    start = listing.sold
    moved = session.execute(
        update(TransferListing)
        .where(
            TransferListing.id == listing.id,
            TransferListing.status == OPEN,
            TransferListing.sold + amount <= TransferListing.principal,
        )
        .values(sold=TransferListing.sold + amount)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise TransferExceedsRemaining("This part of the claim has just been sold.")
    session.refresh(listing)
    if listing.sold == listing.principal:
        listing.status, listing.closed_at = listings.SOLD, clock.now()
    seller_holding = session.scalars(
        select(Holding).where(Holding.id == listing.holding_id).with_for_update()
    ).one()
    if seller_holding.principal_outstanding < amount:
        raise AssertionError("a transfer listing offers more than its holding")
    cost = part_price(listing, start, amount, today)
    now = clock.now()
    seller_holding.principal_outstanding -= amount
    bought = Holding(
        loan_id=loan.id,
        holder_id=buyer_id,
        principal_outstanding=amount,
        principal_acquired=amount,
        acquired_at=now,
        source=TRANSFER,
    )
    session.add(bought)
    session.flush()
    number = session.scalar(select(func.count(TransferSale.id)).where(TransferSale.listing_id == listing.id))
    sale = TransferSale(
        listing_id=listing.id,
        loan_id=loan.id,
        seller_id=listing.seller_id,
        buyer_id=buyer_id,
        seller_holding_id=seller_holding.id,
        buyer_holding_id=bought.id,
        principal=amount,
        accrued_interest=cost.accrued_interest,
        price=cost.price,
        fee=cost.fee,
        business_date=today,
        instruction_no=f"TRF{listing.id}-{int(number or 0) + 1}",
        created_at=now,
    )
    session.add(sale)
    session.flush()
    _post_sale(session, sale)
    # R16 across listings: the entry above holds the buyer's account rows until commit, so a
    # concurrent commitment of theirs elsewhere waits and then sees this one. Before the bank
    # moves anything: a refusal after it would leave the bank's transfer without ours.
    suitability.require_may_lend(
        session,
        buyer_id,
        risk_class=loan.risk_class,
        outstanding_fen=marketplace.lending_outstanding(session, buyer_id) - amount,
        amount_fen=amount,
    )
    _pay_at_bank(session, sale, custodian)
    audit.record(
        session,
        actor_id=buyer_id,
        action="transfer.bought",
        object_type="transfer_listing",
        object_id=listing.id,
        details={
            "sale_id": sale.id,
            "loan_id": loan.id,
            "principal": yuan_str(amount),
            "price": yuan_str(sale.price),
            "fee": yuan_str(sale.fee),
            "seller_net": yuan_str(sale.seller_net),
        },
    )
    return sale


def _post_sale(session: Session, sale: TransferSale) -> None:
    """R39 in one entry: buyer −price, seller +(price − fee), platform +fee."""
    legs = [
        ledger.Leg(ledger.user_available(sale.buyer_id), -sale.price),
        ledger.Leg(ledger.user_available(sale.seller_id), sale.seller_net),
    ]
    if sale.fee:
        legs.append(ledger.Leg(ledger.PLATFORM_FEE_INCOME, sale.fee))
    entry = ledger.post(
        session,
        kind="debt_transfer",
        legs=legs,
        idempotency_key=f"transfer_sale:{sale.id}",
        business_date=sale.business_date,
        ref_type="transfer_sale",
        ref_id=sale.id,
        memo=f"loan {sale.loan_id} claim transferred (listing {sale.listing_id})",
    ).entry
    sale.entry_id = entry.id


def _pay_at_bank(session: Session, sale: TransferSale, custodian: Custodian) -> None:
    """The same amounts at the bank, buyer's sub-account → seller's, seller's → the platform's
    fee account — the purchase's last act, so a refusal earlier leaves nothing to undo there."""
    seller_sub = marketplace.sub_account_of(session, sale.seller_id)
    bank_legs = [TransferLeg(marketplace.sub_account_of(session, sale.buyer_id), seller_sub, sale.price)]
    if sale.fee:
        platform_sub = custody.open_platform_fee_account(session, custodian).sub_account_no
        bank_legs.append(TransferLeg(seller_sub, platform_sub, sale.fee))
    session.flush()
    # The number the bank carried out: the sale's own, or ``~k`` after k voids of it.
    sale.instruction_no = custody.transfer_at_bank(session, custodian, sale.instruction_no, bank_legs)


# --- the buyer's yield ----------------------------------------------------------------------


def projected_receipts(
    session: Session, loan: Loan, seller_holding_id: int, principal: int
) -> list[tuple[date, int]]:
    """What ``principal`` bought from ``seller_holding_id`` today would receive, net of the
    investor management fee, if the borrower pays on time: the unpaid installments split among
    the holdings as they would stand after the purchase — the seller's smaller, the buyer's
    new claim last (latest acquired) — exactly as ``servicing`` will split each payment."""
    holdings = _investor_holdings(session, loan)
    weights = [h.principal_outstanding - (principal if h.id == seller_holding_id else 0) for h in holdings]
    return _project(session, loan, [*weights, principal], len(weights))


def _investor_holdings(session: Session, loan: Loan) -> list[Holding]:
    return [h for h in marketplace.holdings_of_loan(session, loan.id) if h.source != servicing.COMPENSATION]


def _project(session: Session, loan: Loan, weights: list[int], index: int) -> list[tuple[date, int]]:
    rate = Decimal(loan.investor_fee_rate)
    flows: list[tuple[date, int]] = []
    for row in servicing.unpaid_installments(session, loan.id):
        shares_p = allocate(row.principal - row.paid_principal, weights)
        shares_i = allocate(row.interest - row.paid_interest, weights)
        p, i = shares_p[index], shares_i[index]
        if p or i:
            flows.append((row.due_date, p + i - fen_times_rate(i, rate)))
        weights = [w - share for w, share in zip(weights, shares_p, strict=True)]
    return flows


def sale_xirr(session: Session, sale: TransferSale) -> Decimal | None:
    """The yield the buyer bought at: −price on the sale date and the projected receipts of
    the claim bought, as the loan's holdings stand now."""
    loan = marketplace.get_loan(session, sale.loan_id)
    holdings = _investor_holdings(session, loan)
    index = next((i for i, h in enumerate(holdings) if h.id == sale.buyer_holding_id), None)
    if index is None:
        return None
    receipts = _project(session, loan, [h.principal_outstanding for h in holdings], index)
    return statements.xirr([(sale.business_date, -sale.price), *receipts])


def buyer_xirr(
    session: Session, loan: Loan, *, seller_holding_id: int, principal: int, price: int, on: date
) -> Decimal | None:
    """The buyer's yield to maturity: XIRR of −price on ``on`` and the projected receipts."""
    flows = [(on, -price), *projected_receipts(session, loan, seller_holding_id, principal)]
    return statements.xirr(flows)


# --- reading --------------------------------------------------------------------------------


def get_listing(session: Session, listing_id: int) -> TransferListing:
    listing = session.get(TransferListing, listing_id)
    if listing is None:
        raise TransferListingNotFound("No such transfer listing.", details={"listing_id": listing_id})
    return listing


def _locked_listing(session: Session, listing_id: int) -> TransferListing:
    listing = session.scalars(
        select(TransferListing)
        .where(TransferListing.id == listing_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if listing is None:
        raise TransferListingNotFound("No such transfer listing.", details={"listing_id": listing_id})
    return listing


@dataclass(frozen=True)
class ListingView:
    """A listing as the market shows it today: what remains, at today's price, and the
    buyer's yield for buying all of it."""

    listing: TransferListing
    loan: Loan
    today: Price | None  # None once it is closed
    remaining_price: Price | None
    buyer_xirr: Decimal | None
    sales: tuple[TransferSale, ...]

    @property
    def open_now(self) -> bool:
        return self.listing.status == OPEN and self.listing.expires_at > clock.now()


def view(session: Session, listing: TransferListing) -> ListingView:
    loan = marketplace.get_loan(session, listing.loan_id)
    sales = tuple(sales_of_listing(session, listing.id))
    today = clock.today()
    if (
        listing.status != OPEN
        or not listing.period_start <= today <= listing.period_end
        or not listing.remaining
    ):
        return ListingView(listing, loan, None, None, None, sales)
    whole = day_price(listing, today)
    rest = part_price(listing, listing.sold, listing.remaining, today)
    return ListingView(
        listing,
        loan,
        whole,
        rest,
        buyer_xirr(
            session,
            loan,
            seller_holding_id=listing.holding_id,
            principal=listing.remaining,
            price=rest.price,
            on=today,
        ),
        sales,
    )


def purchase_quote(session: Session, listing_id: int, principal: int | None) -> tuple[Price, Decimal | None]:
    """The price today of buying ``principal`` (None: all that remains) and its yield. Stores nothing."""
    listing = get_listing(session, listing_id)
    _require_open(listing)
    loan = marketplace.get_loan(session, listing.loan_id)
    amount = _purchase_amount(loan, listing, listing.remaining if principal is None else principal)
    today = clock.today()
    check_loan(session, loan, today)
    cost = part_price(listing, listing.sold, amount, today)
    return cost, buyer_xirr(
        session, loan, seller_holding_id=listing.holding_id, principal=amount, price=cost.price, on=today
    )


def open_listings(session: Session, *, limit: int = 50, offset: int = 0) -> list[TransferListing]:
    """The market: listings still open, newest first."""
    return list(
        session.scalars(
            select(TransferListing)
            .where(TransferListing.status == OPEN, TransferListing.expires_at > clock.now())
            .order_by(TransferListing.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    )


def listings_of(
    session: Session, *, seller_id: int | None = None, status: str | None = None, limit: int = 200
) -> list[TransferListing]:
    query = select(TransferListing).order_by(TransferListing.id.desc()).limit(limit)
    if seller_id is not None:
        query = query.where(TransferListing.seller_id == seller_id)
    if status is not None:
        query = query.where(TransferListing.status == status)
    return list(session.scalars(query).all())


def sales_of_listing(session: Session, listing_id: int) -> list[TransferSale]:
    return list(
        session.scalars(
            select(TransferSale).where(TransferSale.listing_id == listing_id).order_by(TransferSale.id)
        )
    )


def purchases_of(session: Session, buyer_id: int, *, limit: int = 200) -> list[TransferSale]:
    return list(
        session.scalars(
            select(TransferSale)
            .where(TransferSale.buyer_id == buyer_id)
            .order_by(TransferSale.id.desc())
            .limit(limit)
        )
    )


def sales_by(session: Session, seller_id: int, *, limit: int = 200) -> list[TransferSale]:
    return list(
        session.scalars(
            select(TransferSale)
            .where(TransferSale.seller_id == seller_id)
            .order_by(TransferSale.id.desc())
            .limit(limit)
        )
    )


def transferable_holdings(session: Session, holder_id: int) -> list[tuple[Holding, Loan, str | None]]:
    """The holder's live holdings with the code that refuses listing each today (None: eligible)."""
    today = clock.today()
    result: list[tuple[Holding, Loan, str | None]] = []
    for holding in marketplace.holdings_of_holder(session, holder_id):
        if holding.principal_outstanding <= 0:
            continue
        loan = marketplace.get_loan(session, holding.loan_id)
        refusal: str | None = None
        try:
            check_eligible(session, loan, holding, today)
        except TransferNotEligible as exc:
            refusal = exc.code
        result.append((holding, loan, refusal))
    return result


# --- the batch and operators: expiry and overdue (R40) --------------------------------------


@dataclass(frozen=True)
class Closed:
    expired: int
    cancelled: int

    @property
    def total(self) -> int:
        return self.expired + self.cancelled


def close_stale_listings(session: Session, on: date) -> Closed:
    """The batch's ``transfers`` step (after ``classify``) and ``p2plend transfers expire``:
    every open listing past its expiry closes as expired; every open listing of a loan that
    is overdue (or no longer being repaid) is cancelled (R40). Each loan under its lock."""
    now = clock.now()
    loan_ids = sorted(
        set(session.scalars(select(TransferListing.loan_id).where(TransferListing.status == OPEN)).all())
    )
    expired = cancelled = 0
    for loan_id in loan_ids:
        loan = marketplace.lock_loan(session, loan_id)
        overdue = loan.days_past_due > 0 or any(
            row.due_date < on for row in servicing.unpaid_installments(session, loan.id)
        )
        if loan.status != marketplace.DISBURSED:
            cancelled += listings.cancel_transfer_listings(session, loan.id, listings.INELIGIBLE)
        elif overdue:
            cancelled += listings.cancel_transfer_listings(session, loan.id, listings.OVERDUE)
        else:
            for listing in _open_of_loan(session, loan.id):
                if listing.expires_at <= now or listing.period_end <= on:
                    _close(session, listing, listings.EXPIRED, listings.EXPIRY, actor_id=None)
                    expired += 1
    return Closed(expired, cancelled)


def _open_of_loan(session: Session, loan_id: int) -> Sequence[TransferListing]:
    return session.scalars(
        select(TransferListing)
        .where(TransferListing.loan_id == loan_id, TransferListing.status == OPEN)
        .order_by(TransferListing.id)
        .with_for_update()
    ).all()
