"""``bid-storm``: one hot listing, many investors bidding on it at once.

The act: every bidder's bids go through the bid queue (``marketplace.bid_queue``) into
``marketplace.place_bid`` — every rule, the ledger entry, the audit line — from N threads at
once, or with ``--http`` through the real API served by uvicorn on 127.0.0.1.

The baseline, on a second listing in the same run: the naive limit of one transaction per
bid, as bare statements with no rules at all — claim the amount on the listing with a
conditional UPDATE, move it from the investor's available to frozen balance, insert the bid,
the entry and its two postings, commit. Every one of them waits for the listing's row lock
and pays for its own commit; the queue pays one commit per batch.

Checks after both: neither listing holds more bids than its amount (``overfunded_fen``), the
queued listing is funded exactly, every investor's frozen balance equals their frozen bids,
and the ledger verifies.
"""

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy import func, insert, select, update

from p2plend import clock
from p2plend.bench.report import Report, percentile
from p2plend.bench.world import BENCH_PASSWORD, World, open_listing, person, phone_of, world
from p2plend.db import transaction
from p2plend.errors import DomainError
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry, LedgerAccount, Posting
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.bid_queue import BidQueue
from p2plend.marketplace.models import Bid, Loan

MIN_BID = 10_000  # 100 yuan
SEED = 20261129
SERIAL_BIDS = 500


@dataclass
class Tally:
    """What one run of bidders saw: each bid's latency and whether it was accepted."""

    latencies_ms: list[float] = field(default_factory=list)
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, list[float]] = field(default_factory=dict)  # latencies by kind of request
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, started: float, outcome: str | None, *, kind: str = "bid") -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies_ms.append(elapsed)
            self.kinds.setdefault(kind, []).append(elapsed)
            if outcome is None:
                self.accepted += 1
            else:
                self.refused[outcome] = self.refused.get(outcome, 0) + 1

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def bid_storm(*, bidders: int = 64, bids: int = 20, db: str | None = None, http: bool = False) -> Report:
    """Each of ``bidders`` investors places ``bids`` bids of 100–500 yuan on one listing that
    can take nine tenths of them; the same bids on a second listing as bare transactions."""
    rng = random.Random(SEED)  # noqa: S311 — the same bids every run, not a secret
    plan = [[rng.randrange(100, 501) * 100 for _ in range(bids)] for _ in range(bidders)]
    demand = sum(map(sum, plan))
    amount = demand * 9 // 10 // 100 * 100
    serial_plan = [a for bids in plan for a in bids][:SERIAL_BIDS]
    with world(db, pool_size=bidders + 8) as w:
        investors = [
            person(w, n, deposit=2 * sum(plan[n]) + (sum(serial_plan) if n == 0 else 0))
            for n in range(bidders)
        ]
        borrower = person(w, 99_999, deposit=0, borrower=True)
        raw_loan = open_listing(w, borrower, amount=amount, min_bid=MIN_BID)
        serial_loan = open_listing(w, borrower, amount=amount, min_bid=MIN_BID)
        queued_loan = open_listing(w, borrower, amount=amount, min_bid=MIN_BID)
        raw = _storm(investors, plan, _raw_bidder(w, raw_loan))
        # The same bare transactions from one thread: the limit without any waiting.
        serial = _storm(investors[:1], [serial_plan], _raw_bidder(w, serial_loan))
        queue = BidQueue(w.factory)
        if http:
            with _served(w, queue) as base_url:
                phones = {investor: phone_of(n) for n, investor in enumerate(investors)}
                queued = _storm(investors, plan, _http_bidder(base_url, queued_loan, phones))
        else:
            queued = _storm(investors, plan, _service_bidder(queue, queued_loan))
        checks = _check(w, [raw_loan, serial_loan, queued_loan], queued_loan)
    ratio = queued.per_second / raw.per_second if raw.per_second else 0.0
    via = "the HTTP API" if http else "the service layer"
    return Report(
        f"bench bid-storm: {bidders} bidders × {bids} bids, one listing of {amount // 100:,} yuan, via {via}",
        [
            (
                "queued bids/s",
                f"{queued.per_second:9.1f}  (p50 {_p(queued, 0.5)} ms, p99 {_p(queued, 0.99)} ms)",
            ),
            ("baseline bids/s", f"{raw.per_second:9.1f}  (p50 {_p(raw, 0.5)} ms, p99 {_p(raw, 0.99)} ms)"),
            ("ratio", f"{ratio:9.2f}  (queued / one bare transaction per bid)"),
            ("serial bids/s", f"{serial.per_second:9.1f}  (bare transactions from one thread, no waiting)"),
            ("accepted", f"{queued.accepted} queued, {raw.accepted} baseline; refused {_refusals(queued)}"),
            ("transactions", f"{queue.batches} for the queued bids"),
            ("over-funded", f"{checks.overfunded} fen; funded exactly: {checks.funded_exactly}"),
            ("frozen", f"dangling {checks.dangling_frozen} fen; ledger verifies: {checks.ledger_ok}"),
        ],
        {
            "bids_per_s": round(queued.per_second, 1),
            "baseline_per_s": round(raw.per_second, 1),
            "serial_per_s": round(serial.per_second, 1),
            "ratio": round(ratio, 3),
            "p50_ms": round(percentile(queued.latencies_ms, 0.5), 2),
            "p99_ms": round(percentile(queued.latencies_ms, 0.99), 2),
            "overfunded_fen": checks.overfunded,
            "dangling_frozen_fen": checks.dangling_frozen,
            "funded_exactly": checks.funded_exactly,
            "ledger_ok": checks.ledger_ok,
            "errors": len(queued.errors) + len(raw.errors) + len(serial.errors),
        },
    )


def _p(tally: Tally, fraction: float) -> str:
    return f"{percentile(tally.latencies_ms, fraction):.1f}"


def _refusals(tally: Tally) -> str:
    return ", ".join(f"{code} {count}" for code, count in sorted(tally.refused.items())) or "none"


Bidder = Callable[[int, int], str | None]  # (investor, amount) -> None if accepted, else why not


def _storm(investors: list[int], plan: list[list[int]], bid: Bidder) -> Tally:
    """Every investor's thread places its bids one after another; all start together."""
    tally = Tally()
    start = threading.Barrier(len(investors) + 1)

    def run(investor: int, amounts: list[int]) -> None:
        start.wait()
        for amount in amounts:
            began = time.perf_counter()
            try:
                outcome = bid(investor, amount)
            except Exception as exc:
                with tally.lock:
                    tally.errors.append(repr(exc))
                continue
            tally.record(began, outcome)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in zip(investors, plan, strict=True)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    tally.seconds = time.perf_counter() - began
    return tally


def _service_bidder(queue: BidQueue, loan_id: int) -> Bidder:
    def bid(investor: int, amount: int) -> str | None:
        try:
            queue.submit(loan_id, marketplace.BidOrder(investor, amount), after=lambda _session, bid: bid)
        except DomainError as exc:
            return exc.code
        return None

    return bid


def _raw_bidder(w: World, loan_id: int) -> Bidder:
    """One bare transaction per bid: the statements any bid must write, and nothing else."""
    with transaction(w.factory) as session:
        accounts = {
            (owner, kind): account_id
            for account_id, owner, kind in session.execute(
                select(LedgerAccount.id, LedgerAccount.owner_id, LedgerAccount.kind).where(
                    LedgerAccount.owner_type == "user"
                )
            )
        }
    serial = iter(range(1, 10**9))
    serial_lock = threading.Lock()

    def bid(investor: int, amount: int) -> str | None:
        with serial_lock:
            n = next(serial)
        with w.engine.begin() as conn:
            claimed = conn.execute(
                update(Loan)
                .where(Loan.id == loan_id, Loan.funded + amount <= Loan.amount)
                .values(funded=Loan.funded + amount)
            )
            if claimed.rowcount != 1:
                conn.rollback()
                return "listing_fully_funded"
            available, frozen = accounts[(investor, "available")], accounts[(investor, "frozen")]
            paid = conn.execute(
                update(LedgerAccount)
                .where(LedgerAccount.id == available, LedgerAccount.balance >= amount)
                .values(balance=LedgerAccount.balance - amount)
            )
            if paid.rowcount != 1:
                conn.rollback()
                return "insufficient_funds"
            conn.execute(
                update(LedgerAccount)
                .where(LedgerAccount.id == frozen)
                .values(balance=LedgerAccount.balance + amount)
            )
            now = clock.now()
            bid_id = conn.execute(
                insert(Bid)
                .values(
                    loan_id=loan_id,
                    investor_id=investor,
                    amount=amount,
                    requested=amount,
                    source="bid",
                    status="frozen",
                    created_at=now,
                )
                .returning(Bid.id)
            ).scalar_one()
            entry_id = conn.execute(
                insert(JournalEntry)
                .values(
                    kind="bid_freeze",
                    idempotency_key=f"bench:raw:{loan_id}:{n}",
                    fingerprint="-",
                    business_date=clock.today(),
                    created_at=now,
                    ref_type="bid",
                    ref_id=str(bid_id),
                    memo="",
                )
                .returning(JournalEntry.id)
            ).scalar_one()
            conn.execute(insert(Posting).values(entry_id=entry_id, account_id=available, amount=-amount))
            conn.execute(insert(Posting).values(entry_id=entry_id, account_id=frozen, amount=amount))
        return None

    return bid


@contextmanager
def _served(w: World, queue: BidQueue) -> Iterator[str]:
    """The platform's API on a free loopback port, in this process, on the bench database,
    its bids going through ``queue``."""
    import socket

    import uvicorn

    from p2plend.server import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(session_factory=w.factory, custodian=w.bank)
    app.state.bid_queue = queue
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def _http_bidder(base_url: str, loan_id: int, phones: dict[int, str]) -> Bidder:
    """Each investor signs in first (not timed); each bid is one POST with its own key."""
    client = httpx.Client(base_url=base_url, timeout=120, limits=httpx.Limits(max_connections=512))
    tokens = {investor: _log_in(client, phone) for investor, phone in phones.items()}
    serial = iter(range(1, 10**9))
    serial_lock = threading.Lock()

    def bid(investor: int, amount: int) -> str | None:
        with serial_lock:
            key = f"bid-storm-{next(serial):06d}"
        response = client.post(
            f"/api/v1/listings/{loan_id}/bids",
            json={"amount": f"{amount / 100:.2f}"},
            headers={"Authorization": f"Bearer {tokens[investor]}", "Idempotency-Key": key},
        )
        if response.status_code == 201:
            return None
        if response.status_code < 500:
            code: str = response.json()["error"]["code"]
            return code
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    return bid


def _log_in(client: httpx.Client, phone: str) -> str:
    response = client.post("/api/v1/auth/login", json={"phone": phone, "password": BENCH_PASSWORD})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@dataclass(frozen=True)
class Checks:
    overfunded: int
    funded_exactly: bool
    dangling_frozen: int
    ledger_ok: bool


def _check(w: World, loan_ids: list[int], queued_loan: int) -> Checks:
    with transaction(w.factory) as session:
        overfunded = 0
        for loan_id in loan_ids:
            loan = marketplace.get_loan(session, loan_id)
            held = session.scalar(
                select(func.coalesce(func.sum(Bid.amount), 0)).where(
                    Bid.loan_id == loan_id, Bid.status == "frozen"
                )
            )
            overfunded += max(0, int(held or 0) - loan.amount, loan.funded - loan.amount)
        queued = marketplace.get_loan(session, queued_loan)
        frozen_bids: dict[int | None, int] = {
            investor: int(total)
            for investor, total in session.execute(
                select(Bid.investor_id, func.sum(Bid.amount))
                .where(Bid.status == "frozen")
                .group_by(Bid.investor_id)
            )
        }
        frozen_balances = session.execute(
            select(LedgerAccount.owner_id, LedgerAccount.balance).where(
                LedgerAccount.owner_type == "user", LedgerAccount.kind == "frozen"
            )
        )
        dangling = sum(abs(balance - frozen_bids.get(owner, 0)) for owner, balance in frozen_balances)
        return Checks(
            overfunded=overfunded,
            funded_exactly=queued.funded == queued.amount,
            dangling_frozen=dangling,
            ledger_ok=not ledger.verify(session),
        )
