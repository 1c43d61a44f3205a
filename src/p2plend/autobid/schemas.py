"""API shapes of auto-bid (自动投标): the rule, its status and queue place, the authorisation,
the decisions, an allocation, the staff's queue. Money is a two-decimal yuan string, rates and
shares decimal strings (``"0.08"`` is 8 %), never numbers.

:func:`read_rule` checks a rule typed by a person or a client (API and pages alike) and turns
it into ``autobid.RuleTerms``; every refusal is ``invalid_autobid_rule`` with the field in
``details`` (``autobid.check_terms`` then checks how the fields fit together).
"""

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from p2plend.autobid import service as autobid
from p2plend.autobid.models import AutobidDecision
from p2plend.errors import DomainError
from p2plend.money import Yuan, YuanText, parse_amount, yuan_str

RateText = Annotated[str, Field(examples=["0.08"], description="A decimal fraction: 0.08 is 8 %.")]

_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,2})(\.[0-9]{1,6})?$")
_MONTHS = re.compile(r"^[0-9]{1,3}$")

STATUS_DESCRIPTION = "on (in the queue); off; expired (on, but past its valid-until date)"
OUTCOME_DESCRIPTION = "bid; skip (see reason); off (the rule was switched off because of this loan)"
REASON_DESCRIPTION = (
    "On a skip: amount_below_minimum, balance_below_reserve, total_cap_reached, investor_cap_reached, "
    "risk_assessment_required, risk_assessment_expired, risk_class_not_suitable, risk_tier_cap_exceeded, "
    "or the code place_bid refused with; on off: borrower_disbursed"
)


def rate_text(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _bad(field: str, message: str) -> autobid.InvalidAutobidRule:
    return autobid.InvalidAutobidRule(message, details={"field": field})


def _decimal(field: str, text: str) -> Decimal:
    if not _DECIMAL.fullmatch(text.strip()):
        raise _bad(field, 'A decimal fraction such as "0.08" (at most 6 decimals).')
    return Decimal(text.strip())


def _months(field: str, value: int | str) -> int:
    if isinstance(value, str):
        if not _MONTHS.fullmatch(value.strip()):
            raise _bad(field, "A whole number of months.")
        value = int(value.strip())
    return value


def _yuan(field: str, text: str | None, *, allow_zero: bool) -> int:
    try:
        return parse_amount((text or "").strip() or ("0" if allow_zero else ""), allow_zero=allow_zero)
    except DomainError as exc:
        raise _bad(field, exc.message) from exc


def read_rule(
    *,
    min_rate: str,
    max_rate: str,
    min_term_months: int | str,
    max_term_months: int | str,
    grades: Sequence[str],
    methods: Sequence[str],
    product_kinds: Sequence[str],
    amount_mode: str,
    fixed_amount: str | None,
    balance_share: str | None,
    reserve: str | None,
    total_cap: str | None,
    valid_until: date | str,
) -> autobid.RuleTerms:
    """A rule as typed: rates and the share as decimal strings, money as yuan strings, an empty
    total cap for none, the date as ``YYYY-MM-DD``."""
    if isinstance(valid_until, str):
        try:
            valid_until = date.fromisoformat(valid_until.strip())
        except ValueError:
            raise _bad("valid_until", "A date such as 2027-06-30.") from None
    if amount_mode not in autobid.AMOUNT_MODES:
        raise _bad("amount_mode", "The amount per bid is fixed or a share of the balance.")
    fixed = _yuan("fixed_amount", fixed_amount, allow_zero=False) if amount_mode == autobid.FIXED else 0
    share = _decimal("balance_share", balance_share or "") if amount_mode == autobid.SHARE else Decimal(0)
    terms = autobid.RuleTerms(
        min_rate=_decimal("min_rate", min_rate),
        max_rate=_decimal("max_rate", max_rate),
        min_term_months=_months("min_term_months", min_term_months),
        max_term_months=_months("max_term_months", max_term_months),
        grades=tuple(dict.fromkeys(grades)),
        methods=tuple(dict.fromkeys(methods)),
        product_kinds=tuple(dict.fromkeys(product_kinds)),
        amount_mode=amount_mode,
        fixed_amount=fixed,
        balance_share=share,
        reserve=_yuan("reserve", reserve, allow_zero=True),
        total_cap=None if not (total_cap or "").strip() else _yuan("total_cap", total_cap, allow_zero=False),
        valid_until=valid_until,
    )
    autobid.check_terms(terms)
    return terms


# --- requests -----------------------------------------------------------------------------------


class RuleRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "min_rate": "0.08",
                    "max_rate": "0.13",
                    "min_term_months": 3,
                    "max_term_months": 12,
                    "grades": ["AA", "A", "B"],
                    "methods": ["equal_installment", "equal_principal"],
                    "product_kinds": ["credit", "guaranteed"],
                    "amount_mode": "fixed",
                    "fixed_amount": "1000.00",
                    "reserve": "2000.00",
                    "total_cap": "50000.00",
                    "valid_until": "2027-06-30",
                }
            ]
        },
    )

    min_rate: RateText
    max_rate: RateText
    min_term_months: StrictInt = Field(ge=1, le=autobid.MAX_TERM_MONTHS)
    max_term_months: StrictInt = Field(ge=1, le=autobid.MAX_TERM_MONTHS)
    grades: list[str] = Field(max_length=len(autobid.GRADES), description=", ".join(autobid.GRADES))
    methods: list[str] = Field(max_length=len(autobid.METHODS), description=", ".join(autobid.METHODS))
    product_kinds: list[str] = Field(
        max_length=len(autobid.PRODUCT_KINDS), description=", ".join(autobid.PRODUCT_KINDS)
    )
    amount_mode: Literal["fixed", "share"] = Field(
        description="fixed: `fixed_amount` per bid; share: `balance_share` of the available balance"
    )
    fixed_amount: YuanText | None = Field(default=None, max_length=20, description="Yuan per bid (fixed)")
    balance_share: str | None = Field(
        default=None, max_length=12, description='Of the available balance per bid (share), e.g. "0.1"'
    )
    reserve: YuanText = Field(
        default="0.00", max_length=20, description="保留金额: never bid below it (yuan)"
    )
    total_cap: YuanText | None = Field(
        default=None,
        max_length=20,
        description="The most the rule puts in (auto-bids not returned, lifetime); null: no cap",
    )
    valid_until: date = Field(description="The last business date the rule runs")

    def terms(self) -> autobid.RuleTerms:
        return read_rule(
            min_rate=self.min_rate,
            max_rate=self.max_rate,
            min_term_months=self.min_term_months,
            max_term_months=self.max_term_months,
            grades=self.grades,
            methods=self.methods,
            product_kinds=self.product_kinds,
            amount_mode=self.amount_mode,
            fixed_amount=self.fixed_amount,
            balance_share=self.balance_share,
            reserve=self.reserve,
            total_cap=self.total_cap,
            valid_until=self.valid_until,
        )


# --- responses ----------------------------------------------------------------------------------


class RuleOut(BaseModel):
    investor_id: int
    status: str = Field(description=STATUS_DESCRIPTION)
    off_reason: str = Field(description='"", investor, or borrower_disbursed (you received a loan)')
    queue_rank: int | None = Field(description="Your place in the queue: 1 is served next; null unless on")
    queue_position: int
    min_rate: RateText
    max_rate: RateText
    min_term_months: int
    max_term_months: int
    grades: list[str]
    methods: list[str]
    product_kinds: list[str]
    amount_mode: str
    fixed_amount: Yuan
    balance_share: RateText
    reserve: Yuan
    total_cap: Yuan | None
    auto_bid_total: Yuan = Field(description="Your auto-bids not returned: what counts toward the total cap")
    valid_until: date
    enabled_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, view: autobid.RuleView) -> "RuleOut":
        t = view.terms
        return cls(
            investor_id=view.investor_id,
            status=view.status,
            off_reason=view.off_reason,
            queue_rank=view.queue_rank,
            queue_position=view.queue_position,
            min_rate=rate_text(t.min_rate),
            max_rate=rate_text(t.max_rate),
            min_term_months=t.min_term_months,
            max_term_months=t.max_term_months,
            grades=list(t.grades),
            methods=list(t.methods),
            product_kinds=list(t.product_kinds),
            amount_mode=t.amount_mode,
            fixed_amount=yuan_str(t.fixed_amount),
            balance_share=rate_text(t.balance_share),
            reserve=yuan_str(t.reserve),
            total_cap=None if t.total_cap is None else yuan_str(t.total_cap),
            auto_bid_total=yuan_str(view.auto_bid_total),
            valid_until=t.valid_until,
            enabled_at=view.enabled_at,
            updated_at=view.updated_at,
        )


class AuthorisationOut(BaseModel):
    """自动投标授权书: the current text and whether (when) you signed it."""

    version: str
    text: str
    signed: bool
    signed_at: datetime | None


class AutobidOut(BaseModel):
    rule: RuleOut | None = Field(description="null until you set one")
    authorisation: AuthorisationOut


class DecisionOut(BaseModel):
    id: int
    loan_id: int
    loan_title: str
    outcome: str = Field(description=OUTCOME_DESCRIPTION)
    reason: str = Field(description=REASON_DESCRIPTION)
    amount: Yuan = Field(description="The bid; on a skip, what the rule would have bid")
    bid_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: AutobidDecision, title: str) -> "DecisionOut":
        return cls(
            id=row.id,
            loan_id=row.loan_id,
            loan_title=title,
            outcome=row.outcome,
            reason=row.reason,
            amount=yuan_str(row.amount),
            bid_id=row.bid_id,
            created_at=row.created_at,
        )


class ExplainOut(BaseModel):
    loan_id: int
    reasons: list[str] = Field(
        description="Why the rule has no turn on this listing: no_rule, rule_off, rule_expired, own_loan, "
        "rate_out_of_range, term_out_of_range, grade_not_chosen, method_not_chosen, "
        "product_kind_not_chosen, already_auto_bid; empty when it matches"
    )


class AllocationOut(BaseModel):
    loan_id: int
    turns: int = Field(description="Investors served (each a bid or a skip), now at the back of the queue")
    bids: int
    amount: Yuan
    skips: int
    auto_limit: Yuan = Field(description="The most auto-bids may fill of this listing (60 % [D])")
    auto_funded: Yuan

    @classmethod
    def of(cls, result: autobid.Allocation) -> "AllocationOut":
        return cls(
            loan_id=result.loan_id,
            turns=result.turns,
            bids=result.bids,
            amount=yuan_str(result.amount),
            skips=result.skips,
            auto_limit=yuan_str(result.auto_limit),
            auto_funded=yuan_str(result.auto_funded),
        )


class QueueEntryOut(BaseModel):
    rank: int
    investor_id: int
    queue_position: int
    amount_mode: str
    fixed_amount: Yuan
    balance_share: RateText
    reserve: Yuan
    total_cap: Yuan | None
    valid_until: date
    available: Yuan


class QueueOut(BaseModel):
    enabled: int = Field(description="Rules on and within their dates: the queue")
    expired: int
    off: int
    head: list[QueueEntryOut] = Field(description="The first in line, in order")

    @classmethod
    def of(cls, overview: autobid.QueueOverview) -> "QueueOut":
        return cls(
            enabled=overview.enabled,
            expired=overview.expired,
            off=overview.off,
            head=[
                QueueEntryOut(
                    rank=e.rank,
                    investor_id=e.investor_id,
                    queue_position=e.queue_position,
                    amount_mode=e.amount_mode,
                    fixed_amount=yuan_str(e.fixed_amount),
                    balance_share=rate_text(e.balance_share),
                    reserve=yuan_str(e.reserve),
                    total_cap=None if e.total_cap is None else yuan_str(e.total_cap),
                    valid_until=e.valid_until,
                    available=yuan_str(e.available),
                )
                for e in overview.head
            ],
        )
