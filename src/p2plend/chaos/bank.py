"""``chaos bank``: a Jepsen-style bank test of the served platform (docs/reliability.md).

1. A scratch PostgreSQL database with a book 40 days old (``scene``), then ``workers``
   server processes on their own ports (``servers``).
2. For ``seconds``: ``clients`` threads deposit, withdraw, bid, repay, list claims for
   transfer and buy them over HTTP (``clients``); a staff desk disburses what fills
   (``desk``); the nemesis kills servers, drops database connections, duplicates and delays
   the bank's callbacks and runs the end-of-day catch-up concurrently (``faults``).
3. The drain: faults stop, every server is up again, each client finishes the op it had
   started (retrying it, same key), held callbacks are delivered, the batch finishes, what
   is funded is disbursed and the bank's queues are swept; once the servers are stopped, the
   orphan sweep (grace 0) voids and reverses every transfer the bank made for an act that
   never committed.
4. The checks (``checks``), and one report: a table, then one JSON line.
"""

import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp

from p2plend import clock
from p2plend.bench.report import Report
from p2plend.bench.world import BENCH_PASSWORD, World, world
from p2plend.chaos import checks, scene
from p2plend.chaos.clients import ACKED, REFUSED, TOTP_STEP, UNANSWERED, Client, Deadlines, Market, Op, Shared
from p2plend.chaos.desk import OPEN_LISTINGS, Desk
from p2plend.chaos.faults import Batch, Gateway, Nemesis
from p2plend.chaos.servers import Servers
from p2plend.custody import service as custody
from p2plend.db import transaction

DRAIN_SECONDS = 60.0  # after the run: for ops in flight to get their answer
BATCH_SECONDS = 120.0  # for the end-of-day processes to finish once the faults stop
WATCH_SECONDS = 5.0  # how often the harness checks that every server still answers
PROBE_SECONDS = 30.0  # a server that does not answer /healthz within this is stuck
SWEEPS = 5  # rounds of the bank's queues at the end (a callback may start another)


def bank_test(
    *,
    db: str,
    clients: int = 8,
    seconds: float = 60.0,
    workers: int = 3,
    seed: int = 1,
    logs: Path | None = None,
) -> Report:
    phases = Phases()
    with world(db, start=scene.book_start(datetime.now(UTC))) as w:
        if not w.is_postgres:
            raise ValueError("the bank test needs PostgreSQL: several server processes share the database")
        book = scene.build(w, investors=2 * clients, listings=OPEN_LISTINGS)
        servers = Servers(w.url, workers, logs=logs)
        try:
            servers.start_all()
            phases.end("setup")
            run = _run(
                w, book, servers, clients=clients, seconds=seconds, seed=seed, logs=logs, phases=phases
            )
        finally:
            servers.stop_all()
        _sweep(w)
        phases.end("sweep")
        verdict = checks.verify(w, run.ops, run.since)
        phases.end("checks")
    return _report(run, verdict, phases, clients=clients, seconds=seconds, workers=workers)


class Phases:
    """Seconds spent in each phase, in order."""

    def __init__(self) -> None:
        self.began = self._last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def end(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = now - self._last
        self._last = now

    @property
    def total(self) -> float:
        return self._last - self.began


class Run:
    def __init__(self, since: datetime) -> None:
        self.since = since
        self.ops: list[Op] = []
        self.faults: Counter[str] = Counter()
        self.callbacks: Counter[str] = Counter()
        self.batch_exits: list[int] = []
        self.stalls: list[str] = []  # what stopped making progress (each is a violation)


def _run(
    w: World,
    book: scene.Scene,
    servers: Servers,
    *,
    clients: int,
    seconds: float,
    seed: int,
    logs: Path | None,
    phases: Phases,
) -> Run:
    rng = random.Random(seed)  # noqa: S311 — a reproducible run, not a secret
    tokens, last_steps = _log_in(servers, book)
    run = Run(clock.now())
    start = time.monotonic()
    deadlines = Deadlines(stop_new=start + seconds, give_up=start + seconds + DRAIN_SECONDS)
    market = Market()
    gateway = Gateway(w, servers, random.Random(rng.getrandbits(64)))  # noqa: S311
    batch = Batch({**os.environ, "P2PLEND_DATABASE_URL": w.url}, logs)
    nemesis = Nemesis(w, servers, gateway, batch, seconds=seconds, seed=rng.getrandbits(64))
    desk = Desk(
        w,
        scene=book,
        servers=servers,
        token=tokens[book.staff.user_id],
        market=market,
        deadlines=deadlines,
        seed=rng.getrandbits(64),
    )
    desk.round()  # the market as it opens
    shared = Shared(servers, book, tokens, market, deadlines, gateway.pay_and_hold)
    threads: list[Client] = []
    for n in range(clients):
        mine = book.investors[2 * n : 2 * n + 2]
        steps = {p.user_id: last_steps[p.user_id] for p in mine}
        threads.append(Client(n, shared, mine, steps, seed=rng.getrandbits(64)))
    for thread in [*threads, desk, nemesis]:
        thread.start()
    while (left := deadlines.stop_new - time.monotonic()) > 0:
        time.sleep(min(WATCH_SECONDS, left))
        _unstick(servers, run)
    phases.end("run")
    for index in nemesis.heal():
        run.stalls.append(f"server {index} was not running at the end of the run (exited, or did not start)")
    phases.end("servers back")
    for thread in [*threads, desk]:
        thread.join()
    _unstick(servers, run)
    phases.end("ops in flight")
    _drain(gateway, batch, desk, run, phases)
    run.ops = [op for thread in threads for op in thread.ops] + desk.ops
    run.faults = nemesis.faults
    run.callbacks = gateway.results
    gateway.close()
    return run


def _unstick(servers: Servers, run: Run) -> None:
    """A server that no longer answers is a finding (a violation); it is aborted (its threads'
    stacks go to its log) and started again, so that the run, and the other servers waiting
    on its locks, can go on."""
    servers.revive()
    for index in servers.unresponsive(PROBE_SECONDS):
        if servers.abort(index):  # else someone else is killing or restarting it
            run.stalls.append(
                f"server {index} stopped answering /healthz for {PROBE_SECONDS:.0f} s (stacks in its log)"
            )
            servers.restart(index)


def _log_in(servers: Servers, book: scene.Scene) -> tuple[dict[int, str], dict[int, int]]:
    """A bearer token per person; with 2FA the code of the previous time-step (accepted as
    clock drift), so the clients' first withdrawal can use the current one."""
    tokens: dict[int, str] = {}
    steps: dict[int, int] = {}
    with httpx.Client(base_url=servers.urls[0], timeout=30) as client:
        for person in [*book.investors, *book.borrowers, book.staff]:
            body: dict[str, str] = {"phone": person.phone, "password": BENCH_PASSWORD}
            if person.totp_secret is not None:
                steps[person.user_id] = step = int(time.time()) // TOTP_STEP - 1
                body["totp_code"] = pyotp.TOTP(person.totp_secret).generate_otp(step)
            response = client.post("/api/v1/auth/login", json=body)
            response.raise_for_status()
            tokens[person.user_id] = str(response.json()["access_token"])
    return tokens, steps


def _drain(gateway: Gateway, batch: Batch, desk: Desk, run: Run, phases: Phases) -> None:
    """Faults over and clients done: the held reports delivered, the batch finished (one
    more run closes whatever a killed one left open), what is funded disbursed. Each bounded
    in time: what does not finish is a stall."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while gateway.held and time.monotonic() < deadline:
        if not gateway.deliver_late():
            time.sleep(0.5)
    if gateway.held:
        run.stalls.append(f"{len(gateway.held)} held callback(s) not accepted in {DRAIN_SECONDS:.0f} s")
    if overran := batch.wait(BATCH_SECONDS):
        run.stalls.append(f"end of day: {overran} run(s) not finished {BATCH_SECONDS:.0f} s after the faults")
    phases.end("batch done")
    batch.start()  # closes whatever a killed run left open
    if batch.wait(BATCH_SECONDS):
        run.stalls.append(f"end of day: the last run not finished in {BATCH_SECONDS:.0f} s")
    phases.end("batch rerun")
    run.batch_exits = batch.exits()
    desk.finish(give_up=time.monotonic() + DRAIN_SECONDS)


def _sweep(w: World) -> None:
    """What ``p2plend custody sweep`` does every few minutes: pending withdrawals sent, the
    bank's unacknowledged callbacks delivered (here in-process: the servers are down), then
    orphaned transfers voided and reversed — with no grace: no act is open any more."""
    for _ in range(SWEEPS):
        with transaction(w.factory) as session:
            sent = custody.submit_pending_withdrawals(session, w.bank)
        if not sent and not w.bank.pending_callbacks():
            break
        w.bank.deliver_pending()
    custody.sweep_orphaned_instructions(w.factory, w.bank, now=clock.now(), grace=timedelta(0))


def _report(
    run: Run, verdict: checks.Verdict, phases: Phases, *, clients: int, seconds: float, workers: int
) -> Report:
    outcomes = Counter(op.outcome for op in run.ops)
    by_kind = Counter(op.kind for op in run.ops)
    acked_by_kind = Counter(op.kind for op in run.ops if op.outcome == ACKED)
    refusals = Counter(op.code for op in run.ops if op.outcome == REFUSED)
    retried = Counter(failure for op in run.ops for failure in op.failures)
    faults = sum(run.faults.values())
    oversold = len(verdict.oversold)
    violations = [*verdict.violations, *run.stalls]
    rows = [
        (
            "ops",
            f"{len(run.ops)} attempted, {outcomes[ACKED]} acknowledged, "
            f"{outcomes[REFUSED]} refused (4xx), {outcomes[UNANSWERED]} unanswered",
        ),
        ("  by kind", ", ".join(f"{k} {acked_by_kind[k]}/{n}" for k, n in sorted(by_kind.items()))),
        ("  refusals", ", ".join(f"{code} {n}" for code, n in refusals.most_common(8)) or "-"),
        (
            "  retried after",
            ", ".join(f"{why} {n}" for why, n in retried.most_common(8)) or "-",
        ),
        ("  in doubt", f"{verdict.in_doubt_applied} unanswered op(s) had in fact happened (once)"),
        ("faults", f"{faults}: " + ", ".join(f"{k} {n}" for k, n in sorted(run.faults.items()))),
        ("  callbacks", ", ".join(f"{k} {n}" for k, n in sorted(run.callbacks.items())) or "-"),
        (
            "  end of day",
            f"exits {run.batch_exits}; last date closed {verdict.last_closed or '-'}; "
            f"{verdict.auto_debits} auto-debit(s) by the batch during the run",
        ),
        (
            "money",
            f"deposited {verdict.deposited}, withdrawn {verdict.withdrawn} (fen, at the bank); "
            f"platform holds {verdict.platform_total}, bank {verdict.bank_total}",
        ),
        ("fen lost", str(verdict.fen_lost)),
        ("oversold", str(oversold)),
        ("ledger", "verifies" if not verdict.ledger else f"{len(verdict.ledger)} violation(s)"),
        ("custody", _custody(verdict)),
        ("  anomalies", f"{verdict.anomalies} open"),
        ("exactly once", "yes" if not verdict.once else f"{len(verdict.once)} violation(s)"),
        *[("violation", v) for v in violations[:20]],
        ("orphans voided", _orphans(verdict)),
        *[
            ("  its op", line)
            for instruction in verdict.orphans_voided
            for line in _ops_behind(instruction, run.ops)
        ],
    ]
    figures: dict[str, float | int | bool] = {
        "ops": len(run.ops),
        "acked": outcomes[ACKED],
        "failed": outcomes[REFUSED] + outcomes[UNANSWERED],
        "faults": faults,
        **{f"faults_{k}": n for k, n in sorted(run.faults.items())},
        "fen_lost": verdict.fen_lost,
        "oversold": oversold,
        "ledger_ok": not verdict.ledger,
        "reconciled": not verdict.differences,
        "orphans_voided": len(verdict.orphans_voided),
        "exactly_once": not verdict.once,
        "violations": len(violations),
        "retries": sum(retried.values()),
        "seconds": round(phases.total, 1),
    }
    title = (
        f"chaos bank: {clients} clients × {seconds:g} s, {workers} server process(es), PostgreSQL; "
        f"{phases.total:.0f} s in all ("
        + ", ".join(f"{name} {spent:.0f} s" for name, spent in phases.seconds.items())
        + ")"
    )
    return Report(title, rows, figures)


def _custody(verdict: checks.Verdict) -> str:
    if not verdict.differences:
        return "reconciles"
    return f"{len(verdict.differences)} difference(s)"


def _orphans(verdict: checks.Verdict) -> str:
    """The transfers the bank made for acts that never committed, each with its reversal."""
    if not verdict.orphans_voided:
        return "0"
    return ", ".join(f"{no} (reversal {status})" for no, status in verdict.orphans_voided.items())


def _ops_behind(instruction: str, ops: list[Op]) -> list[str]:
    """The clients' ops on an orphaned instruction's listing or loan that met a failure."""
    base = instruction.partition(custody.RETRY_MARK)[0]
    kind, number = base[:3], base[3:].partition("-")[0]
    path = {
        "TRF": f"/api/v1/transfers/{number}/buy",
        "RPY": f"/api/v1/me/loans/{number}/repayments",
        "DSB": f"/api/v1/staff/loans/{number}/disburse",
    }.get(kind)
    return [
        f"{instruction}: {op.kind} by user {op.user_id} {op.key or ''}: {op.outcome} {op.code} "
        f"after {', '.join(op.failures)}"
        for op in ops
        if op.path == path and op.failures
    ]


def passed(report: Report) -> bool:
    return report.figures["violations"] == 0
