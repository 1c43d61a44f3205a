"""``autobid``: how the allocation of one new listing grows with the number of auto-bid rules.

The act: ``autobid.allocate`` — the queue served for one open listing, in one transaction
(candidates read in SQL a batch at a time, a turn each: a bid or a recorded skip, the served
sent to the back) — timed on listings of the same amount at three sizes of the queue:
``base``, 10× and 100× as many active rules (1,000 / 10,000 / 100,000 by default). One
database grows from one size to the next (new rules join the back of the queue; on
PostgreSQL the tables are then ANALYZEd, as autovacuum would have). The work per listing is
the same at every size (it fills after about the same turns), so the time should not grow
with the queue: ``growth_ratio`` = ms at 100× ÷ ms at 1× (median of ``listings`` each).

The rules, and the investors behind them, are made in bulk (``bulk.people``): verified,
assessed, a custody account, 50,000 yuan each. Half of the rules do not match the listing
(a grade or a rate range it is outside of) and keep their place; one in ten of the others
keeps a reserve as large as its balance, so its turn is a skip (余额不足).

Checks after each size: no listing holds more than its amount or auto-bids beyond their share
(``overfunded_fen``), and the ledger verifies (``ledger_ok``).
"""

import hashlib
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Connection, case, insert, literal, select, update

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.autobid.models import AutobidAuthorisation, AutobidQueue, AutobidRule
from p2plend.bench import bulk
from p2plend.bench.report import Report
from p2plend.bench.world import World, open_listing, person, world
from p2plend.db import transaction
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace

DEPOSIT = 5_000_000  # 50,000 yuan each
FIXED_BID = 100_000  # 1,000 yuan per bid for fixed rules
SHARE = Decimal("0.05")  # 2,500 yuan of 50,000 for share rules
LISTING_PER_RULE = 50_000  # the listing: 500 yuan per rule of the smallest queue (500,000 yuan)
MIN_BID = 10_000
ALL = 127  # every grade, method and product kind


@dataclass(frozen=True)
class Size:
    rules: int
    ms: float  # median allocation
    turns: int
    bids: int
    overfunded_fen: int
    ledger_ok: bool


def autobid_bench(*, base: int = 1000, listings: int = 3, db: str | None = None) -> Report:
    """Allocate ``listings`` listings (the median timed) with base, 10× and 100× base rules."""
    amount = base * LISTING_PER_RULE
    with world(db) as w:
        template = bulk.make_template(w)
        borrower = person(w, 99_998, deposit=0, borrower=True)
        sizes: list[Size] = []
        for rules in (base, 10 * base, 100 * base):
            added = rules - (sizes[-1].rules if sizes else 0)
            _more_rules(w, bulk.people(w, template, added, deposit=DEPOSIT))
            sizes.append(_size(w, rules, borrower, amount=amount, listings=listings))
    small, middle, large = sizes
    growth = large.ms / small.ms
    rows = [
        (f"{s.rules:,} rules", f"{s.ms:9.1f} ms  ({s.turns} turns, {s.bids} bids; median of {listings})")
        for s in sizes
    ]
    rows.append(("growth ratio", f"{growth:9.2f}  (100× the rules ÷ 1×; acceptance ≤ 5)"))
    title = f"one listing of {amount // 100:,} yuan, {base:,} / {10 * base:,} / {100 * base:,} rules"
    return Report(
        f"bench autobid: {title}",
        rows,
        {
            "base_rules": base,
            "ms_1k": round(small.ms, 2),
            "ms_10k": round(middle.ms, 2),
            "ms_100k": round(large.ms, 2),
            "growth_ratio": round(growth, 3),
            "turns": large.turns,
            "overfunded_fen": max(s.overfunded_fen for s in sizes),
            "ledger_ok": all(s.ledger_ok for s in sizes),
        },
    )


def _more_rules(w: World, investors: range) -> None:
    with w.engine.begin() as conn:
        _rules(conn, investors)
        if w.is_postgres:  # as autovacuum would have, long before a queue this size
            conn.exec_driver_sql("ANALYZE")


def _size(w: World, rules: int, borrower: int, *, amount: int, listings: int) -> Size:
    """Open ``listings`` listings one after the other, each allocated in its own transaction."""
    timings, turns, bids, overfunded = [], 0, 0, 0
    for _ in range(listings):
        loan_id = open_listing(w, borrower, amount=amount, min_bid=MIN_BID)
        start = time.perf_counter()
        with transaction(w.factory) as session:
            allocation = autobid.allocate(session, loan_id, actor_id=None)
        timings.append((time.perf_counter() - start) * 1000)
        turns, bids = allocation.turns, allocation.bids
        with transaction(w.factory) as session:
            loan = marketplace.get_loan(session, loan_id)
            overfunded = max(
                overfunded, loan.funded - loan.amount, allocation.auto_funded - autobid.auto_limit(loan)
            )
    with transaction(w.factory) as session:
        ledger_ok = not ledger.verify(session)
    return Size(rules, statistics.median(timings), turns, bids, overfunded, ledger_ok)


def _rules(conn: Connection, investors: range) -> None:
    """An enabled rule per investor, signed, joining the back of the queue in order of their
    ids (made from ``bulk.NUMBERS``, as the investors were)."""
    n = bulk.NUMBERS.c.n
    base = investors.start - 1
    last = int(conn.scalar(select(AutobidQueue.last_position).where(AutobidQueue.id == 1)) or 0)
    investor = n + base
    now = clock.now()
    in_range = n <= len(investors)
    conn.execute(
        insert(AutobidAuthorisation).from_select(
            ["investor_id", "version", "text_sha256", "signed_at"],
            select(
                investor,
                literal(autobid.AUTHORISATION_VERSION),
                literal(hashlib.sha256(autobid.AUTHORISATION_TEXT.encode()).hexdigest()),
                literal(now, AutobidAuthorisation.signed_at.type),
            ).where(in_range),
        )
    )
    off_grade, off_rate = n % 4 == 3, n % 4 == 2  # half do not match the listing
    share = n % 2 == 1
    rules = (
        select(
            investor,
            literal(True),
            case((off_rate, Decimal("0.12")), else_=Decimal("0.05")),
            literal(Decimal("0.24")),
            literal(1),
            literal(36),
            case((off_grade, autobid.mask_of(("AA", "A"), autobid.GRADES)), else_=ALL),
            literal(ALL),
            literal(ALL),
            case((share, autobid.SHARE), else_=autobid.FIXED),
            case((share, 0), else_=FIXED_BID),
            case((share, SHARE), else_=Decimal(0)),
            case((n % 10 == 1, DEPOSIT), else_=0),  # its whole balance kept: a skip
            literal(clock.today() + timedelta(days=365)),
            n + last,
            AutobidAuthorisation.id,
            literal(""),
            literal(now, AutobidRule.enabled_at.type),
            literal(now, AutobidRule.updated_at.type),
        )
        .select_from(bulk.NUMBERS.join(AutobidAuthorisation, AutobidAuthorisation.investor_id == investor))
        .where(in_range)
    )
    columns = [
        "investor_id",
        "enabled",
        "min_rate",
        "max_rate",
        "min_term_months",
        "max_term_months",
        "grades",
        "methods",
        "product_kinds",
        "amount_mode",
        "fixed_amount",
        "balance_share",
        "reserve",
        "valid_until",
        "queue_position",
        "authorisation_id",
        "off_reason",
        "enabled_at",
        "updated_at",
    ]
    conn.execute(insert(AutobidRule).from_select(columns, rules))
    conn.execute(update(AutobidQueue).where(AutobidQueue.id == 1).values(last_position=last + len(investors)))
