"""自动投标 (auto-bid), DOMAIN.md §10, R43–R44.

An investor keeps one rule — rate range, term range, grades, repayment methods, product
kinds, an amount per bid (fixed, or a share of the available balance), a reserve balance
(保留金额), an optional total cap and the last date it runs — and signs the auto-bid
authorisation (自动投标授权书) once; the platform then bids for them when a listing opens.

The queue (排队规则): every rule holds a ``queue_position`` taken from one counter when it is
enabled or edited. For each listing the candidates — enabled, not expired, matching the
listing, neither its borrower nor its guarantor, not yet auto-bid on it — are read IN SQL,
in queue order, a batch at a time, until the auto-bids reach the listing's auto-bid share
(60 % [D]). Each candidate read has one turn: a bid, or a recorded skip with a reason code
(余额不足 after the reserve, total cap reached, suitability, …). Everyone who had a turn goes
to the back, in the order served. Rules that do not match the listing are not turns: they
keep their place. Allocations lock the counter row, so they run one at a time and the order
is total across listings.

Per bid (R43): the rule's amount, at most 20 % of the listing [D] floored to the bid step
(never below the minimum bid), at most what the auto-bid share leaves, never taking the
available balance below the reserve, within the total cap (auto-bids not returned: frozen
or disbursed, lifetime), the per-investor share and the tier cap; then
``marketplace.place_bid(..., source="auto_bid")`` applies suitability and caps exactly as for a
manual bid (R14–R16), inside a savepoint so a refusal leaves nothing but the skip.

R44: every bid, manual or automatic, locks the loan row and the database's CHECK refuses
``funded > amount``, so racing bids never over-fund a listing.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.autobid.models import AutobidAuthorisation, AutobidDecision, AutobidQueue, AutobidRule
from p2plend.config import get_settings
from p2plend.custody.port import Custodian
from p2plend.errors import Conflict, DomainError, InvalidInput, NotFound
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import ListingNotOpen
from p2plend.marketplace.models import Loan
from p2plend.money import yuan_str
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from p2plend.suitability import service as suitability

# The vocabularies a rule chooses from; a value's bit is 1 << its index (never reorder: append).
GRADES: tuple[str, ...] = ("AA", "A", "B", "C", "D", "E", "HR")  # origination's grades, best first
METHODS: tuple[str, ...] = tuple(m.value for m in Method)
PRODUCT_KINDS: tuple[str, ...] = ("credit", "mortgage", "guaranteed", "institution")
FIXED, SHARE = "fixed", "share"
AMOUNT_MODES = (FIXED, SHARE)
AUTO_BID = "auto_bid"  # the bids' source
MAX_TERM_MONTHS = 360
BATCH = 200  # candidates read per query

# Decisions.
BID, SKIP, OFF = "bid", "skip", "off"
# Skip reasons decided here; a refusal of place_bid is recorded under its own code
# (risk_assessment_expired, risk_tier_cap_exceeded, insufficient_funds, real_name_required, …).
AMOUNT_BELOW_MINIMUM = "amount_below_minimum"  # the rule's own amount is below the minimum bid
BALANCE_BELOW_RESERVE = "balance_below_reserve"  # 余额不足: not a minimum bid above the reserve
TOTAL_CAP_REACHED = "total_cap_reached"
INVESTOR_CAP_REACHED = "investor_cap_reached"  # the per-investor share, with manual bids
RISK_ASSESSMENT_REQUIRED = "risk_assessment_required"
RISK_ASSESSMENT_EXPIRED = "risk_assessment_expired"
RISK_CLASS_NOT_SUITABLE = "risk_class_not_suitable"
RISK_TIER_CAP_EXCEEDED = "risk_tier_cap_exceeded"
BORROWER_DISBURSED = "borrower_disbursed"  # off: the investor borrowed (DOMAIN.md §10)
INVESTOR = "investor"  # off: the investor switched it off

AUTHORISATION_VERSION = "2026-01"
AUTHORISATION_TEXT = (
    f"自动投标授权书（{AUTHORISATION_VERSION}）\n"
    "一、本人授权平台在本人开启自动投标期间，按本人设置的自动投标规则（利率、期限、信用等级、"
    "还款方式、产品类型、单笔投标金额、保留金额、投标总额上限、有效期），在借款项目发布时以本人名义"
    "向符合规则的项目投标，并冻结本人存管账户中相应的资金。\n"
    "二、自动投标按开启或修改规则的先后排队，每轮投标或未能投标后排至队尾；每个项目本人至多自动投标"
    "一次；单笔不超过项目金额的 20%，自动投标合计不超过项目金额的 60%；投标后可用余额不低于保留金额。\n"
    "三、自动投标与手动投标适用相同的风险测评与出借限额要求；本人不会向自己的借款自动投标；"
    "本人获得借款放款时，自动投标将自动关闭。\n"
    "四、本人可随时关闭自动投标；已成功的投标按借款协议履行。\n"
    "五、平台为信息中介，不承诺保本保息；出借有风险，本人自行承担出借风险。"
)


class InvalidAutobidRule(InvalidInput):
    """A rule field is out of range; ``details.field`` names it."""

    code = "invalid_autobid_rule"


class AutobidRuleNotFound(NotFound):
    code = "autobid_rule_not_found"


class AutobidAuthorisationRequired(Conflict):
    """Enabling needs the current 自动投标授权书 signed first."""

    code = "autobid_authorisation_required"


class AutobidRuleExpired(Conflict):
    """The rule's valid-until date has passed: set a later one, then enable it."""

    code = "autobid_rule_expired"


@dataclass(frozen=True)
class RuleTerms:
    """A rule as the investor sets it (money in fen, rates as Decimal fractions)."""

    min_rate: Decimal
    max_rate: Decimal
    min_term_months: int
    max_term_months: int
    grades: tuple[str, ...]
    methods: tuple[str, ...]
    product_kinds: tuple[str, ...]
    amount_mode: str
    fixed_amount: int
    balance_share: Decimal
    reserve: int
    total_cap: int | None
    valid_until: date


@dataclass(frozen=True)
class RuleView:
    investor_id: int
    terms: RuleTerms
    enabled: bool
    status: str  # on | off | expired
    off_reason: str
    queue_position: int
    queue_rank: int | None  # 1 = next to be served; None while off or expired
    authorised: bool  # the current authorisation text is signed
    auto_bid_total: int  # what counts toward the total cap
    enabled_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class Allocation:
    """What one allocation did for one listing."""

    loan_id: int
    turns: int
    bids: int
    amount: int
    skips: int
    auto_limit: int  # the most auto-bids may fill (60 % [D])
    auto_funded: int  # auto-bids on the listing after this run


@dataclass(frozen=True)
class QueueEntry:
    rank: int
    investor_id: int
    queue_position: int
    amount_mode: str
    fixed_amount: int
    balance_share: Decimal
    reserve: int
    total_cap: int | None
    valid_until: date
    available: int


@dataclass(frozen=True)
class QueueOverview:
    enabled: int  # on and within their dates: the queue
    expired: int  # on, but past their valid-until date
    off: int
    head: list[QueueEntry]  # the first in line


# --- vocabularies as bitmasks ---------------------------------------------------------------------


def mask_of(values: Iterable[str], vocabulary: Sequence[str]) -> int:
    return sum(1 << vocabulary.index(v) for v in set(values))


def members(mask: int, vocabulary: Sequence[str]) -> tuple[str, ...]:
    return tuple(v for i, v in enumerate(vocabulary) if mask & (1 << i))


def _bit(value: str, vocabulary: Sequence[str]) -> int:
    return 1 << vocabulary.index(value) if value in vocabulary else 0


def loan_term_months(loan: Loan) -> int:
    """A listing's term for matching: its months; a term in days counts as started 30-day
    months (90 days → 3, 45 days → 2)."""
    if loan.term_months is not None:
        return loan.term_months
    return -(-(loan.term_days or 0) // 30)


# --- the rule -------------------------------------------------------------------------------------


def _bad(field: str, message: str) -> InvalidAutobidRule:
    return InvalidAutobidRule(message, details={"field": field})


def _places(value: Decimal) -> int:
    """How many decimals ``value`` has; 99 for NaN and infinities."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 99


def check_terms(terms: RuleTerms) -> None:
    """Refuse a rule out of range (``invalid_autobid_rule``, ``details.field``)."""
    if not (_places(terms.min_rate) <= 6 and Decimal(0) <= terms.min_rate <= Decimal(1)):
        raise _bad("min_rate", "The lowest rate is a fraction between 0 and 1, at most 6 decimals.")
    if not (_places(terms.max_rate) <= 6 and terms.min_rate <= terms.max_rate <= Decimal(1)):
        raise _bad("max_rate", "The highest rate is at least the lowest and at most 1, at most 6 decimals.")
    if not 1 <= terms.min_term_months <= MAX_TERM_MONTHS:
        raise _bad("min_term_months", f"The shortest term is 1 to {MAX_TERM_MONTHS} months.")
    if not terms.min_term_months <= terms.max_term_months <= MAX_TERM_MONTHS:
        raise _bad("max_term_months", "The longest term is at least the shortest.")
    for field, values, vocabulary in (
        ("grades", terms.grades, GRADES),
        ("methods", terms.methods, METHODS),
        ("product_kinds", terms.product_kinds, PRODUCT_KINDS),
    ):
        if not values or any(v not in vocabulary for v in values):
            raise _bad(field, f"Choose at least one of {', '.join(vocabulary)}.")
    if terms.amount_mode not in AMOUNT_MODES:
        raise _bad("amount_mode", "The amount per bid is fixed or a share of the balance.")
    if terms.amount_mode == FIXED and terms.fixed_amount <= 0:
        raise _bad("fixed_amount", "A fixed amount per bid is a positive amount.")
    if terms.amount_mode == SHARE and not (
        _places(terms.balance_share) <= 4 and Decimal(0) < terms.balance_share <= Decimal(1)
    ):
        raise _bad("balance_share", "The share of the balance is above 0 and at most 1, at most 4 decimals.")
    if terms.reserve < 0:
        raise _bad("reserve", "The reserve balance is zero or more.")
    if terms.total_cap is not None and terms.total_cap <= 0:
        raise _bad("total_cap", "The total cap is a positive amount (or none).")
    if terms.valid_until < clock.today():
        raise _bad("valid_until", "The rule is valid until today or later.")


def save_rule(session: Session, investor_id: int, terms: RuleTerms, *, actor_id: int | None) -> RuleView:
    """Set the investor's rule. Editing an enabled rule sends the investor to the back of the
    queue (the queue is by the time a rule was last enabled or edited)."""
    check_terms(terms)
    rule = _locked_rule(session, investor_id)
    if rule is None:
        rule = AutobidRule(investor_id=investor_id, enabled=False, queue_position=0, off_reason="")
        session.add(rule)
    rule.min_rate, rule.max_rate = terms.min_rate, terms.max_rate
    rule.min_term_months, rule.max_term_months = terms.min_term_months, terms.max_term_months
    rule.grades = mask_of(terms.grades, GRADES)
    rule.methods = mask_of(terms.methods, METHODS)
    rule.product_kinds = mask_of(terms.product_kinds, PRODUCT_KINDS)
    rule.amount_mode = terms.amount_mode
    rule.fixed_amount = terms.fixed_amount if terms.amount_mode == FIXED else 0
    rule.balance_share = terms.balance_share if terms.amount_mode == SHARE else Decimal(0)
    rule.reserve, rule.total_cap, rule.valid_until = terms.reserve, terms.total_cap, terms.valid_until
    if rule.enabled:
        rule.queue_position = _take_positions(session, 1)
    rule.updated_at = clock.now()
    session.flush()
    _audit(session, actor_id, "autobid.rule_saved", investor_id, **_terms_details(terms))
    return _view(session, rule)


def rule_of(session: Session, investor_id: int) -> RuleView | None:
    rule = session.get(AutobidRule, investor_id)
    return None if rule is None else _view(session, rule)


def require_rule(session: Session, investor_id: int) -> RuleView:
    view = rule_of(session, investor_id)
    if view is None:
        raise AutobidRuleNotFound("Set your auto-bid rule first.", details={"investor_id": investor_id})
    return view


def sign_authorisation(session: Session, investor_id: int) -> AutobidAuthorisation:
    """签署自动投标授权书: record that the investor signed the current text (once per version)."""
    current = authorisation_of(session, investor_id)
    if current is not None:
        return current
    row = AutobidAuthorisation(
        investor_id=investor_id,
        version=AUTHORISATION_VERSION,
        text_sha256=hashlib.sha256(AUTHORISATION_TEXT.encode()).hexdigest(),
        signed_at=clock.now(),
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        investor_id,
        "autobid.authorised",
        investor_id,
        version=row.version,
        text_sha256=row.text_sha256,
    )
    return row


def authorisation_of(session: Session, investor_id: int) -> AutobidAuthorisation | None:
    """The investor's signature of the current authorisation text, if any."""
    return session.scalars(
        select(AutobidAuthorisation).where(
            AutobidAuthorisation.investor_id == investor_id,
            AutobidAuthorisation.version == AUTHORISATION_VERSION,
        )
    ).first()


def enable(session: Session, investor_id: int, *, actor_id: int | None) -> RuleView:
    """开启: the rule joins the back of the queue. Needs the rule, the signed authorisation,
    a valid risk assessment (R15) and a valid-until date not past."""
    rule = _locked_rule(session, investor_id)
    if rule is None:
        raise AutobidRuleNotFound("Set your auto-bid rule first.", details={"investor_id": investor_id})
    authorisation = authorisation_of(session, investor_id)
    if authorisation is None:
        raise AutobidAuthorisationRequired(
            "Sign the auto-bid authorisation before switching auto-bid on.",
            details={"version": AUTHORISATION_VERSION},
        )
    if rule.valid_until < clock.today():
        raise AutobidRuleExpired(
            "The rule's valid-until date has passed; set a later one first.",
            details={"valid_until": rule.valid_until.isoformat()},
        )
    suitability.require_valid_assessment(session, investor_id)
    rule.enabled = True
    rule.off_reason = ""
    rule.authorisation_id = authorisation.id
    rule.queue_position = _take_positions(session, 1)
    rule.enabled_at = rule.updated_at = clock.now()
    session.flush()
    _audit(session, actor_id, "autobid.enabled", investor_id, queue_position=rule.queue_position)
    return _view(session, rule)


def disable(session: Session, investor_id: int, *, actor_id: int | None, reason: str = INVESTOR) -> RuleView:
    """关闭: the rule stays as set but bids no more."""
    rule = _locked_rule(session, investor_id)
    if rule is None:
        raise AutobidRuleNotFound(
            "There is no auto-bid rule to switch off.", details={"investor_id": investor_id}
        )
    if rule.enabled:
        rule.enabled = False
        rule.off_reason = reason
        rule.updated_at = clock.now()
        session.flush()
        _audit(session, actor_id, "autobid.disabled", investor_id, reason=reason)
    return _view(session, rule)


def _locked_rule(session: Session, investor_id: int) -> AutobidRule | None:
    return session.scalars(
        select(AutobidRule)
        .where(AutobidRule.investor_id == investor_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _take_positions(session: Session, count: int) -> int:
    """Lock the queue's counter and hand out ``count`` new positions; the first is returned.
    The lock is held to the end of the transaction: allocations run one at a time."""
    counter = session.scalars(
        select(AutobidQueue)
        .where(AutobidQueue.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if counter is None:
        counter = AutobidQueue(id=1, last_position=0)
        session.add(counter)
    first = counter.last_position + 1
    counter.last_position += count
    session.flush()
    return first


def auto_bid_total(session: Session, investor_id: int) -> int:
    """What counts toward a rule's total cap: the investor's auto-bids not returned (frozen,
    or disbursed into a loan), over the rule's life."""
    return marketplace.bid_total(session, investor_id, source=AUTO_BID)


def _view(session: Session, rule: AutobidRule) -> RuleView:
    today = clock.today()
    expired = rule.valid_until < today
    status = "off" if not rule.enabled else "expired" if expired else "on"
    rank = None
    if status == "on":
        ahead = session.scalar(
            select(func.count())
            .select_from(AutobidRule)
            .where(
                AutobidRule.enabled.is_(True),
                AutobidRule.valid_until >= today,
                AutobidRule.queue_position < rule.queue_position,
            )
        )
        rank = int(ahead or 0) + 1
    return RuleView(
        investor_id=rule.investor_id,
        terms=_terms_of(rule),
        enabled=rule.enabled,
        status=status,
        off_reason=rule.off_reason,
        queue_position=rule.queue_position,
        queue_rank=rank,
        authorised=authorisation_of(session, rule.investor_id) is not None,
        auto_bid_total=auto_bid_total(session, rule.investor_id),
        enabled_at=rule.enabled_at,
        updated_at=rule.updated_at,
    )


def _terms_of(rule: AutobidRule) -> RuleTerms:
    return RuleTerms(
        min_rate=Decimal(rule.min_rate),
        max_rate=Decimal(rule.max_rate),
        min_term_months=rule.min_term_months,
        max_term_months=rule.max_term_months,
        grades=members(rule.grades, GRADES),
        methods=members(rule.methods, METHODS),
        product_kinds=members(rule.product_kinds, PRODUCT_KINDS),
        amount_mode=rule.amount_mode,
        fixed_amount=rule.fixed_amount,
        balance_share=Decimal(rule.balance_share),
        reserve=rule.reserve,
        total_cap=rule.total_cap,
        valid_until=rule.valid_until,
    )


def _terms_details(terms: RuleTerms) -> dict[str, object]:
    return {
        "rates": [str(terms.min_rate), str(terms.max_rate)],
        "terms_months": [terms.min_term_months, terms.max_term_months],
        "grades": list(terms.grades),
        "methods": list(terms.methods),
        "product_kinds": list(terms.product_kinds),
        "amount_mode": terms.amount_mode,
        "fixed_amount": yuan_str(terms.fixed_amount),
        "balance_share": str(terms.balance_share),
        "reserve": yuan_str(terms.reserve),
        "total_cap": None if terms.total_cap is None else yuan_str(terms.total_cap),
        "valid_until": terms.valid_until.isoformat(),
    }


# --- allocation -----------------------------------------------------------------------------------


def open_listing(session: Session, loan_id: int, *, actor_id: int | None) -> Loan:
    """发布 + 自动投标: the listing opens and the auto-bid queue bids into it, one transaction."""
    marketplace.open_listing(session, loan_id, actor_id=actor_id)
    allocate(session, loan_id, actor_id=actor_id)
    return marketplace.get_loan(session, loan_id)


def per_bid_cap(loan: Loan) -> int:
    """20 % [D] of the listing floored to the bid step, never below the minimum bid."""
    share = get_settings().autobid_bid_share
    return max(int(loan.amount * share) // loan.bid_step * loan.bid_step, loan.min_bid)


def auto_limit(loan: Loan) -> int:
    """The most auto-bids together may fill: 60 % [D] of the listing."""
    return int(loan.amount * get_settings().autobid_listing_share)


def allocate(session: Session, loan_id: int, *, actor_id: int | None, batch: int = BATCH) -> Allocation:
    """Serve the queue for one open listing (also staff's "run again" for a listing already open)."""
    loan = marketplace.lock_loan(session, loan_id)
    if loan.status != marketplace.OPEN or loan.deadline is None or loan.deadline <= clock.now():
        raise ListingNotOpen("This listing is not open for bids.", details={"status": loan.status})
    _take_positions(session, 0)  # the queue's lock, to the end of the transaction
    limit = auto_limit(loan)
    cap = per_bid_cap(loan)
    manual: dict[int, int] = {}
    auto_funded = 0
    for bid in marketplace.bids_of_loan(session, loan.id):
        if bid.status != "frozen":
            continue
        if bid.source == AUTO_BID:
            auto_funded += bid.amount
        else:
            manual[bid.investor_id] = manual.get(bid.investor_id, 0) + bid.amount
    served: list[AutobidRule] = []
    bids = amount = 0
    after = -1
    while _room(loan, limit, auto_funded) > 0:
        rules = session.scalars(_candidates(loan, after, batch)).all()
        if not rules:
            break
        for rule in rules:
            room = _room(loan, limit, auto_funded)
            if room <= 0:
                break
            after = rule.queue_position
            decision = _turn(session, loan, rule, room=room, cap=cap, manual=manual.get(rule.investor_id, 0))
            session.add(decision)
            served.append(rule)
            if decision.outcome == BID:
                bids += 1
                amount += decision.amount
                auto_funded += decision.amount
    if served:
        first = _take_positions(session, len(served))
        for i, rule in enumerate(served):  # to the back, in the order served
            rule.queue_position = first + i
    session.flush()
    result = Allocation(loan.id, len(served), bids, amount, len(served) - bids, limit, auto_funded)
    audit.record(
        session,
        actor_id=actor_id,
        action="autobid.allocated",
        object_type="loan",
        object_id=loan.id,
        details={
            "turns": result.turns,
            "bids": bids,
            "amount": yuan_str(amount),
            "skips": result.skips,
            "auto_funded": yuan_str(auto_funded),
            "auto_limit": yuan_str(limit),
        },
    )
    return result


def _room(loan: Loan, limit: int, auto_funded: int) -> int:
    """What auto-bids may still take: within the auto-bid share and what remains; 0 when not
    even a minimum bid fits (unless that little completes the listing)."""
    remaining = loan.amount - loan.funded
    room = min(limit - auto_funded, remaining)
    if loan.status != marketplace.OPEN or room <= 0 or (room < loan.min_bid and room != remaining):
        return 0
    return room


def _candidates(loan: Loan, after: int, batch: int) -> Select[AutobidRule]:
    """The next ``batch`` rules in queue order that match the listing (SQL, on the queue index)."""
    excluded = [i for i in (loan.borrower_id, loan.guarantor_id) if i is not None]
    already = exists().where(
        AutobidDecision.bid_loan_id == loan.id, AutobidDecision.investor_id == AutobidRule.investor_id
    )
    rate = Decimal(loan.annual_rate)
    term = loan_term_months(loan)
    return (
        select(AutobidRule)
        .where(
            AutobidRule.enabled.is_(True),
            AutobidRule.queue_position > after,
            AutobidRule.valid_until >= clock.today(),
            AutobidRule.min_rate <= rate,
            AutobidRule.max_rate >= rate,
            AutobidRule.min_term_months <= term,
            AutobidRule.max_term_months >= term,
            AutobidRule.grades.op("&")(_bit(loan.grade, GRADES)) != 0,
            AutobidRule.methods.op("&")(_bit(loan.method, METHODS)) != 0,
            AutobidRule.product_kinds.op("&")(_bit(loan.product_kind, PRODUCT_KINDS)) != 0,
            AutobidRule.investor_id.not_in(excluded),
            ~already,
        )
        .order_by(AutobidRule.queue_position)
        .limit(batch)
    )


def _turn(
    session: Session, loan: Loan, rule: AutobidRule, *, room: int, cap: int, manual: int
) -> AutobidDecision:
    """One investor's turn on one listing: a bid, or a skip with the reason."""
    investor = rule.investor_id
    available = ledger.user_balances(session, investor).available
    wanted = rule.fixed_amount if rule.amount_mode == FIXED else int(available * Decimal(rule.balance_share))
    intended = min(wanted, cap, room)
    remaining = loan.amount - loan.funded

    def skip(reason: str) -> AutobidDecision:
        return _decision(loan, rule, SKIP, reason, max(intended, 0))

    assessment = suitability.current_assessment(session, investor)
    if assessment is None:
        latest = suitability.latest_assessment(session, investor)
        return skip(RISK_ASSESSMENT_REQUIRED if latest is None else RISK_ASSESSMENT_EXPIRED)
    if not suitability.may_lend(assessment.tier, loan.risk_class):
        return skip(RISK_CLASS_NOT_SUITABLE)
    # Each limit of this investor, in the order a skip names it when it binds.
    limits = [(AMOUNT_BELOW_MINIMUM, wanted), (BALANCE_BELOW_RESERVE, available - rule.reserve)]
    if rule.total_cap is not None:
        limits.append((TOTAL_CAP_REACHED, rule.total_cap - auto_bid_total(session, investor)))
    limits.append((INVESTOR_CAP_REACHED, marketplace.investor_cap(loan) - manual))
    tier_cap = suitability.tier_cap_fen(assessment.tier)
    if tier_cap is not None:
        limits.append((RISK_TIER_CAP_EXCEEDED, tier_cap - marketplace.lending_outstanding(session, investor)))
    amount = min([cap, room] + [value for _, value in limits])
    if amount != remaining:
        amount = amount // loan.bid_step * loan.bid_step
    if amount <= 0 or (amount < loan.min_bid and amount != remaining):
        binding = min(limits, key=lambda item: item[1])  # the first of the smallest
        return skip(binding[0])
    try:
        with session.begin_nested():
            bid = marketplace.place_bid(
                session,
                investor_id=investor,
                loan_id=loan.id,
                amount=amount,
                fill_remaining=False,
                source=AUTO_BID,
            )
    except DomainError as exc:
        return _decision(loan, rule, SKIP, exc.code[:40], amount)
    decision = _decision(loan, rule, BID, "", bid.amount)
    decision.bid_id = bid.id
    decision.bid_loan_id = loan.id
    return decision


def _decision(loan: Loan, rule: AutobidRule, outcome: str, reason: str, amount: int) -> AutobidDecision:
    return AutobidDecision(
        loan_id=loan.id,
        investor_id=rule.investor_id,
        outcome=outcome,
        reason=reason,
        amount=amount,
        queue_position=rule.queue_position,
        created_at=clock.now(),
    )


def explain(session: Session, investor_id: int, loan_id: int) -> list[str]:
    """Why the investor's rule does not take part for this listing (no turn, no decision):
    ``no_rule``, ``rule_off``, ``rule_expired``, ``own_loan``, ``rate_out_of_range``,
    ``term_out_of_range``, ``grade_not_chosen``, ``method_not_chosen``,
    ``product_kind_not_chosen``, ``already_auto_bid``; empty when the rule matches it."""
    rule = session.get(AutobidRule, investor_id)
    if rule is None:
        return ["no_rule"]
    loan = marketplace.get_loan(session, loan_id)
    reasons = []
    if not rule.enabled:
        reasons.append("rule_off")
    elif rule.valid_until < clock.today():
        reasons.append("rule_expired")
    if investor_id in (loan.borrower_id, loan.guarantor_id):
        reasons.append("own_loan")
    if not rule.min_rate <= loan.annual_rate <= rule.max_rate:
        reasons.append("rate_out_of_range")
    if not rule.min_term_months <= loan_term_months(loan) <= rule.max_term_months:
        reasons.append("term_out_of_range")
    for code, mask, value, vocabulary in (
        ("grade_not_chosen", rule.grades, loan.grade, GRADES),
        ("method_not_chosen", rule.methods, loan.method, METHODS),
        ("product_kind_not_chosen", rule.product_kinds, loan.product_kind, PRODUCT_KINDS),
    ):
        if not mask & _bit(value, vocabulary):
            reasons.append(code)
    placed = session.scalar(
        select(AutobidDecision.id).where(
            AutobidDecision.bid_loan_id == loan.id, AutobidDecision.investor_id == investor_id
        )
    )
    if placed is not None:
        reasons.append("already_auto_bid")
    return reasons


# --- the borrower's rule at disbursement ----------------------------------------------------------


def disburse_loan(session: Session, loan_id: int, custodian: Custodian, *, actor_id: int) -> Loan:
    """满标复审 → 放款 (``servicing.disburse_loan``), and the borrower's auto-bid switched off in
    the same transaction (DOMAIN.md §10), audited, with an ``off`` decision the borrower sees."""
    loan = servicing.disburse_loan(session, loan_id, custodian, actor_id=actor_id)
    rule = _locked_rule(session, loan.borrower_id)
    if rule is not None and rule.enabled:
        disable(session, loan.borrower_id, actor_id=actor_id, reason=BORROWER_DISBURSED)
        session.add(_decision(loan, rule, OFF, BORROWER_DISBURSED, 0))
        session.flush()
    return loan


# --- reading --------------------------------------------------------------------------------------


def decisions(
    session: Session, *, investor_id: int | None = None, loan_id: int | None = None, limit: int = 100
) -> list[AutobidDecision]:
    """Decisions newest first, of one investor or one listing."""
    query = select(AutobidDecision).order_by(AutobidDecision.id.desc()).limit(max(1, min(limit, 1000)))
    if investor_id is not None:
        query = query.where(AutobidDecision.investor_id == investor_id)
    if loan_id is not None:
        query = query.where(AutobidDecision.loan_id == loan_id)
    return list(session.scalars(query).all())


def queue(session: Session, *, limit: int = 50) -> QueueOverview:
    """The queue for staff: how many rules are on, expired, off, and who is first in line."""
    today = clock.today()
    on = int(session.scalar(select(func.count()).where(AutobidRule.enabled.is_(True))) or 0)
    queued = int(
        session.scalar(
            select(func.count()).where(AutobidRule.enabled.is_(True), AutobidRule.valid_until >= today)
        )
        or 0
    )
    off = int(session.scalar(select(func.count()).where(AutobidRule.enabled.is_(False))) or 0)
    rows = session.scalars(
        select(AutobidRule)
        .where(AutobidRule.enabled.is_(True), AutobidRule.valid_until >= today)
        .order_by(AutobidRule.queue_position)
        .limit(max(1, min(limit, 500)))
    ).all()
    head = [
        QueueEntry(
            rank=i + 1,
            investor_id=r.investor_id,
            queue_position=r.queue_position,
            amount_mode=r.amount_mode,
            fixed_amount=r.fixed_amount,
            balance_share=Decimal(r.balance_share),
            reserve=r.reserve,
            total_cap=r.total_cap,
            valid_until=r.valid_until,
            available=ledger.user_balances(session, r.investor_id).available,
        )
        for i, r in enumerate(rows)
    ]
    return QueueOverview(enabled=queued, expired=on - queued, off=off, head=head)


def _audit(session: Session, actor_id: int | None, action: str, investor_id: int, **details: object) -> None:
    audit.record(
        session,
        actor_id=actor_id,
        action=action,
        object_type="autobid_rule",
        object_id=investor_id,
        details=details,
    )
