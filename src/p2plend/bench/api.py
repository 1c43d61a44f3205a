"""``api``: a load run against the served platform, over loopback, bounded in time.

The platform is served the way ``p2plend serve`` serves it — uvicorn worker processes of
``server:serve_app`` (the end-of-day scheduler off) — on the bench's scratch database with
investors, a borrower and open listings. Client threads in this process then keep it busy for
a fixed time, twice:

- the baseline: the server's most trivial endpoint, ``GET /healthz`` (one ``SELECT 1``);
- the mix: browsing the listings page (``GET /invest``, HTML, anonymous) and the listings API
  (``GET /api/v1/listings``), the account (``GET /api/v1/me/account``, signed in) and bids
  (``POST /api/v1/listings/{id}/bids``, 100.00 each, an Idempotency-Key each).

Both follow an untimed warm-up of the mix (templates compiled, pools filled in every worker).
It prints each phase's throughput and p50/p99 and ``ratio`` = mix / baseline: the share of the
server's bare request rate left for real pages and bids. Afterwards the ledger must verify and
the listing must not hold more bids than its amount.
"""

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from p2plend.bench.bid_storm import Tally
from p2plend.bench.report import Report, percentile
from p2plend.bench.world import BENCH_PASSWORD, World, open_listing, person, phone_of, world
from p2plend.db import transaction
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid

SEED = 20261129
BID = 10_000  # 100.00 yuan
Request = Callable[[httpx.Client, random.Random], httpx.Response]


def api(
    *, clients: int = 32, seconds: float = 20.0, workers: int = 2, investors: int = 32, db: str | None = None
) -> Report:
    """``clients`` threads for ``seconds`` against the trivial endpoint, then as long against the
    mix; ``workers`` server processes (SQLite: one)."""
    with world(db, start=datetime.now(UTC).replace(microsecond=0)) as w:
        if not w.is_postgres:
            workers = 1  # SQLite serialises writers: more processes only queue on its lock
        people = [person(w, n, deposit=BID * 1_000) for n in range(investors)]
        borrower = person(w, 99_999, deposit=0, borrower=True)
        hot = open_listing(w, borrower, amount=BID * 1_000_000, min_bid=BID, max_share=Decimal("0.5"))
        for _ in range(20):
            open_listing(w, borrower, amount=BID * 1_000, min_bid=BID)
        with _served(w, workers) as base_url:
            tokens = _log_in(base_url, [phone_of(n) for n in range(len(people))])
            # Not timed: every worker compiles its templates and fills its pools on first use.
            _load(base_url, clients, min(5.0, seconds / 2), _mix(hot, tokens))
            baseline = _load(base_url, clients, seconds, [(1, _healthz)])
            mix = _load(base_url, clients, seconds, _mix(hot, tokens))
        overfunded, ledger_ok = _check(w, hot)
    ratio = mix.per_second / baseline.per_second if baseline.per_second else 0.0
    errors = len(baseline.errors) + len(mix.errors)
    return Report(
        f"bench api: {clients} clients × {seconds:g} s per phase, {workers} server worker(s), "
        f"{'PostgreSQL' if db else 'SQLite'}",
        [
            ("mix req/s", f"{mix.per_second:9.1f}  (p50 {_p(mix, 0.5)} ms, p99 {_p(mix, 0.99)} ms)"),
            ("  by kind", _by_kind(mix)),
            ("baseline req/s", f"{baseline.per_second:9.1f}  (GET /healthz; p99 {_p(baseline, 0.99)} ms)"),
            ("ratio", f"{ratio:9.2f}  (mix / trivial endpoint, same server, same run)"),
            ("errors", f"{errors} (5xx or transport); bids refused {mix.refused.get('bid refused', 0)}"),
            ("checks", f"over-funded {overfunded} fen; ledger verifies: {ledger_ok}"),
        ],
        {
            "requests_per_s": round(mix.per_second, 1),
            "baseline_per_s": round(baseline.per_second, 1),
            "ratio": round(ratio, 3),
            "p50_ms": round(percentile(mix.latencies_ms, 0.5), 2),
            "p99_ms": round(percentile(mix.latencies_ms, 0.99), 2),
            "errors": errors,
            "overfunded_fen": overfunded,
            "ledger_ok": ledger_ok,
        },
    )


def _p(tally: Tally, fraction: float) -> str:
    return f"{percentile(tally.latencies_ms, fraction):.1f}"


def _by_kind(tally: Tally) -> str:
    """How many of each kind were answered, and their median in ms."""
    return ", ".join(
        f"{kind} {len(ms)} ({percentile(ms, 0.5):.0f} ms)" for kind, ms in sorted(tally.kinds.items())
    )


def _healthz(client: httpx.Client, _rng: random.Random) -> httpx.Response:
    return client.get("/healthz")


def _mix(hot: int, tokens: list[str]) -> list[tuple[int, Request]]:
    """Weights and requests: mostly browsing, then the account, then bids."""

    def browse_page(client: httpx.Client, _rng: random.Random) -> httpx.Response:
        return client.get("/invest")

    def browse_api(client: httpx.Client, _rng: random.Random) -> httpx.Response:
        return client.get("/api/v1/listings")

    def account(client: httpx.Client, rng: random.Random) -> httpx.Response:
        return client.get("/api/v1/me/account", headers=_bearer(rng.choice(tokens)))

    def bid(client: httpx.Client, rng: random.Random) -> httpx.Response:
        headers = {**_bearer(rng.choice(tokens)), "Idempotency-Key": f"bench-api-{rng.getrandbits(64):016x}"}
        return client.post(
            f"/api/v1/listings/{hot}/bids", json={"amount": f"{BID / 100:.2f}"}, headers=headers
        )

    return [(3, browse_page), (3, browse_api), (2, account), (2, bid)]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _load(base_url: str, clients: int, seconds: float, requests: list[tuple[int, Request]]) -> Tally:
    """Every client sends its next request as soon as the last is answered, until time is up."""
    tally = Tally()
    weights = [weight for weight, _ in requests]
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def run(n: int) -> None:
        rng = random.Random(SEED + n)  # noqa: S311 — a reproducible mix, not a secret
        with httpx.Client(base_url=base_url, timeout=60) as client:
            start.wait()
            while time.perf_counter() < stop_at[0]:
                [request] = rng.choices([r for _, r in requests], weights)
                began = time.perf_counter()
                try:
                    response = request(client, rng)
                except httpx.HTTPError as exc:
                    with tally.lock:
                        tally.errors.append(repr(exc))
                    continue
                if response.status_code >= 500:
                    with tally.lock:
                        tally.errors.append(f"{request.__name__}: HTTP {response.status_code}")
                    continue
                refused = "bid refused" if response.status_code >= 400 else None
                tally.record(began, refused, kind=request.__name__)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    tally.seconds = time.perf_counter() - began
    return tally


def _log_in(base_url: str, phones: list[str]) -> list[str]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        tokens = []
        for phone in phones:
            response = client.post("/api/v1/auth/login", json={"phone": phone, "password": BENCH_PASSWORD})
            response.raise_for_status()
            tokens.append(str(response.json()["access_token"]))
        return tokens


@contextmanager
def _served(w: World, workers: int) -> Iterator[str]:
    """``uvicorn p2plend.server:serve_app`` in its own processes, on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "P2PLEND_DATABASE_URL": w.url,
        "P2PLEND_EOD_SCHEDULER_ENABLED": "false",
        "P2PLEND_LOG_JSON": "true",
    }
    command = [sys.executable, "-m", "uvicorn", "p2plend.server:serve_app", "--factory"]
    command += [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, server)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before it served")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not answer /healthz within 60 s")


def _check(w: World, loan_id: int) -> tuple[int, bool]:
    with transaction(w.factory) as session:
        loan = marketplace.get_loan(session, loan_id)
        held = session.scalar(
            select(func.coalesce(func.sum(Bid.amount), 0)).where(
                Bid.loan_id == loan_id, Bid.status == "frozen"
            )
        )
        overfunded = max(0, int(held or 0) - loan.amount, loan.funded - loan.amount)
        return overfunded, not ledger.verify(session)
