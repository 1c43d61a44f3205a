"""API shapes of the debt-transfer market (债权转让): money as two-decimal yuan strings, rates
and yields as decimal strings (``"0.005"`` is 0.5 %), never JSON numbers.

What a buyer sees of a listing: the loan's terms, the claim offered and what remains, today's
value (principal + accrued interest, DOMAIN.md §2.5), price and discount, and the buyer's
yield to maturity (XIRR) for buying all that remains — a projection from the borrower's
schedule if every installment is paid on time, never a promise (R3). Never the seller's
identity.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from p2plend.marketplace.schemas import checked_amount, rate_text
from p2plend.marketplace.transfer_listings import TransferSale
from p2plend.money import Yuan, YuanText, parse_amount, yuan_str
from p2plend.transfers import service as transfers

RateText = Annotated[str, Field(examples=["0.005"], description="A decimal fraction: 0.005 is 0.5 %.")]

YIELD_NOTE = (
    "The buyer's annualised yield to maturity (XIRR) at this price, net of the investor "
    "management fee, if the borrower pays every installment on time: a projection, not a promise."
)
STATUS_DESCRIPTION = "open, sold (all of it bought), cancelled (R40 or the seller), expired"
REASON_DESCRIPTION = (
    "Why it closed unsold: payment, prepayment, compensation, overdue, expired, seller, ineligible"
)


def _yield(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _amount_or_none(value: object) -> str | None:
    if value is None or value == "":
        return None
    return checked_amount(value)


# --- requests -------------------------------------------------------------------------------


class TransferRequest(BaseModel):
    """挂牌转让: offer a holding, whole or a part, at a discount."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"holding_id": 12, "principal": "1000.00", "discount_rate": "0.005"}]
        },
    )

    holding_id: int = Field(ge=1, le=2**63 - 1)
    principal: YuanText | None = Field(
        default=None, description="Yuan of principal to offer; omitted: the whole holding"
    )
    discount_rate: str = Field(
        default="0", description="d in price = V × (1 − d): 0 to 0.05 [D], at most 4 decimals; no premium"
    )

    @field_validator("principal", mode="before")
    @classmethod
    def _check_principal(cls, value: object) -> str | None:
        return _amount_or_none(value)

    @property
    def principal_fen(self) -> int | None:
        return None if self.principal is None else parse_amount(self.principal)


class BuyRequest(BaseModel):
    """购买债权: all that remains, or a part ≥ the minimum bid in bid steps."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"principal": "1000.00"}, {}]})

    principal: YuanText | None = Field(
        default=None, description="Yuan of principal; omitted: all that remains"
    )

    @field_validator("principal", mode="before")
    @classmethod
    def _check_principal(cls, value: object) -> str | None:
        return _amount_or_none(value)

    @property
    def principal_fen(self) -> int | None:
        return None if self.principal is None else parse_amount(self.principal)


# --- responses ------------------------------------------------------------------------------


class TransferListingOut(BaseModel):
    """A transfer listing as the market shows it, priced today."""

    id: int
    loan_id: int
    loan_title: str
    partner_claim: bool = Field(
        description="机构债权（P2B）: a claim on a loan a partner institution made outside the platform — "
        "a longer credit chain, more risk"
    )
    grade: str
    risk_class: str
    annual_rate: RateText
    method: str
    status: str = Field(description=STATUS_DESCRIPTION)
    close_reason: str = Field(description=REASON_DESCRIPTION)
    principal_offered: Yuan
    sold: Yuan
    remaining: Yuan
    discount_rate: RateText
    listed_on: date
    expires_at: datetime
    installment_number: int = Field(description="The installment whose period the price accrues in")
    period_start: date
    period_end: date = Field(description="The next due date: the buyer receives that whole installment share")
    priced_on: date | None = Field(description="Today, while open; null once closed")
    accrued_interest: Yuan | None = Field(description="Interest accrued on what remains, to today (§2.5)")
    value: Yuan | None = Field(description="V of what remains: principal + accrued interest")
    price: Yuan | None = Field(description="Today's price of all that remains: V × (1 − d)")
    discount: Yuan | None = Field(description="V − price")
    buyer_xirr: str | None = Field(description=YIELD_NOTE)
    min_purchase: Yuan
    purchase_step: Yuan

    @classmethod
    def of(cls, view: transfers.ListingView) -> "TransferListingOut":
        listing, loan, rest = view.listing, view.loan, view.remaining_price
        return cls(
            id=listing.id,
            loan_id=loan.id,
            loan_title=loan.title,
            partner_claim=loan.product_kind == "partner_claim",
            grade=loan.grade,
            risk_class=loan.risk_class,
            annual_rate=rate_text(loan.annual_rate),
            method=loan.method,
            status=listing.status,
            close_reason=listing.close_reason,
            principal_offered=yuan_str(listing.principal),
            sold=yuan_str(listing.sold),
            remaining=yuan_str(listing.remaining),
            discount_rate=rate_text(listing.discount_rate),
            listed_on=listing.listed_on,
            expires_at=listing.expires_at,
            installment_number=listing.installment_number,
            period_start=listing.period_start,
            period_end=listing.period_end,
            priced_on=rest.on if rest else None,
            accrued_interest=yuan_str(rest.accrued_interest) if rest else None,
            value=yuan_str(rest.value) if rest else None,
            price=yuan_str(rest.price) if rest else None,
            discount=yuan_str(rest.discount) if rest else None,
            buyer_xirr=_yield(view.buyer_xirr),
            min_purchase=yuan_str(min(loan.min_bid, listing.remaining) if listing.remaining else 0),
            purchase_step=yuan_str(loan.bid_step),
        )


class TransferListingPage(BaseModel):
    items: list[TransferListingOut]
    limit: int
    offset: int
    next_offset: int | None


class SaleOut(BaseModel):
    """One part bought: the buyer paid ``price``, the seller received ``seller_net``, the
    platform ``fee`` (R39)."""

    id: int
    listing_id: int
    loan_id: int
    loan_title: str
    role: str = Field(description="buyer or seller: which side of the sale you are (staff: empty)")
    principal: Yuan
    accrued_interest: Yuan
    price: Yuan
    fee: Yuan
    seller_net: Yuan
    business_date: date
    buyer_holding_id: int

    @classmethod
    def of(cls, sale: TransferSale, loan_title: str, role: str = "") -> "SaleOut":
        return cls(
            id=sale.id,
            listing_id=sale.listing_id,
            loan_id=sale.loan_id,
            loan_title=loan_title,
            role=role,
            principal=yuan_str(sale.principal),
            accrued_interest=yuan_str(sale.accrued_interest),
            price=yuan_str(sale.price),
            fee=yuan_str(sale.fee),
            seller_net=yuan_str(sale.seller_net),
            business_date=sale.business_date,
            buyer_holding_id=sale.buyer_holding_id,
        )


class PurchaseResult(SaleOut):
    buyer_xirr: str | None = Field(description=YIELD_NOTE)


class MyListingOut(TransferListingOut):
    """My own listing: the fee I pay on what sells and what I have received."""

    holding_id: int
    fee_rate: RateText
    listed_price: Yuan = Field(description="The price of the whole offer on the day it was listed")
    listed_fee: Yuan
    received: Yuan = Field(description="What the parts sold so far brought me, net of the fee")

    @classmethod
    def mine(cls, view: transfers.ListingView) -> "MyListingOut":
        base = TransferListingOut.of(view).model_dump()
        return cls(
            **base,
            holding_id=view.listing.holding_id,
            fee_rate=rate_text(view.listing.fee_rate),
            listed_price=yuan_str(view.listing.price),
            listed_fee=yuan_str(view.listing.fee),
            received=yuan_str(sum(s.seller_net for s in view.sales)),
        )


class StaffListingOut(MyListingOut):
    seller_id: int
    sales: list[SaleOut]

    @classmethod
    def staff(cls, view: transfers.ListingView) -> "StaffListingOut":
        return cls(
            **MyListingOut.mine(view).model_dump(),
            seller_id=view.listing.seller_id,
            sales=[SaleOut.of(s, view.loan.title) for s in view.sales],
        )


class MyTransfersOut(BaseModel):
    """我的转让: what I listed, sold and bought."""

    listings: list[MyListingOut]
    sold: list[SaleOut]
    bought: list[SaleOut]


class TransferQuoteOut(BaseModel):
    """转让报价 of one of my holdings today (nothing stored)."""

    holding_id: int
    loan_id: int
    principal: Yuan
    installment_number: int
    period_start: date
    period_end: date
    days_elapsed: int = Field(description="D1: days from the period's start to today")
    period_days: int = Field(description="D2: days in the period")
    period_interest: Yuan = Field(description="Z: this principal's share of the period's interest")
    accrued_interest: Yuan = Field(description="rd(Z × D1 / D2)")
    value: Yuan = Field(description="V = principal + accrued interest")
    discount_rate: RateText
    price: Yuan = Field(description="rd(V × (1 − d))")
    fee_rate: RateText = Field(description="0.005 [D]; 0 once held more than 90 days")
    fee: Yuan
    seller_net: Yuan
    buyer_xirr: str | None = Field(description=YIELD_NOTE)

    @classmethod
    def of(cls, quote: transfers.Quote) -> "TransferQuoteOut":
        price = quote.price
        return cls(
            holding_id=quote.holding_id,
            loan_id=quote.loan_id,
            principal=yuan_str(price.principal),
            installment_number=quote.installment_number,
            period_start=quote.period_start,
            period_end=quote.period_end,
            days_elapsed=quote.days_elapsed,
            period_days=quote.period_days,
            period_interest=yuan_str(quote.period_interest),
            accrued_interest=yuan_str(price.accrued_interest),
            value=yuan_str(price.value),
            discount_rate=rate_text(price.discount_rate),
            price=yuan_str(price.price),
            fee_rate=rate_text(quote.fee_rate),
            fee=yuan_str(price.fee),
            seller_net=yuan_str(price.seller_net),
            buyer_xirr=_yield(quote.buyer_xirr),
        )


class PurchaseQuoteOut(BaseModel):
    """What buying ``principal`` of a listing costs today, and its yield (nothing stored)."""

    listing_id: int
    principal: Yuan
    accrued_interest: Yuan
    value: Yuan
    price: Yuan
    buyer_xirr: str | None = Field(description=YIELD_NOTE)

    @classmethod
    def of(cls, listing_id: int, price: transfers.Price, xirr: Decimal | None) -> "PurchaseQuoteOut":
        return cls(
            listing_id=listing_id,
            principal=yuan_str(price.principal),
            accrued_interest=yuan_str(price.accrued_interest),
            value=yuan_str(price.value),
            price=yuan_str(price.price),
            buyer_xirr=_yield(xirr),
        )
