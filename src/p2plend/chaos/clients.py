"""The clients: threads that act as the platform's users over HTTP, each op with its own
Idempotency-Key, retried with that same key on another server until it gets an answer.

An op is **acknowledged** when a 2xx came back, **refused** when a 4xx did (the platform
said no: nothing must have happened), **unanswered** when every try died on the way
(connection refused or reset by a killed server, a 5xx from a dropped database connection)
until the run's hard deadline: it may or may not have happened, and the checks accept
either — once.
"""

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp

from p2plend.chaos.scene import MIN_BID, Person, Scene
from p2plend.chaos.servers import Servers
from p2plend.money import yuan_str

ACKED, REFUSED, UNANSWERED = "acked", "refused", "unanswered"
REQUEST_TIMEOUT = 15.0
LATE_CALLBACK_SHARE = 0.2  # of deposits paid through the harness's delaying gateway
DISCOUNTS = ("0", "0.005", "0.01", "0.05")
TOTP_STEP = 30  # seconds


@dataclass
class Op:
    kind: str
    user_id: int
    operation: str | None = None  # the idempotency record's operation, for keyed ops
    key: str | None = None
    path: str = ""  # what it asked for
    outcome: str = UNANSWERED
    code: str = ""  # a refusal's error code
    effect: str | None = None  # what the acknowledged answer names: an order number or an id
    attempts: int = 0
    failures: list[str] = field(default_factory=list)  # why each try before the last failed


@dataclass
class Deadlines:
    """No op starts after ``stop_new``; an op still unanswered at ``give_up`` stays so."""

    stop_new: float
    give_up: float

    def starting(self) -> bool:
        return time.monotonic() < self.stop_new


@dataclass
class Market:
    """What can be bid on and bought now, refreshed by the operations thread."""

    listings: list[int] = field(default_factory=list)
    transfers: list[tuple[int, int, int]] = field(default_factory=list)  # id, seller, remaining fen
    lock: threading.Lock = field(default_factory=threading.Lock)

    def listing(self, rng: random.Random) -> int | None:
        with self.lock:
            return rng.choice(self.listings) if self.listings else None

    def transfer(self, rng: random.Random, buyer_id: int) -> tuple[int, int] | None:
        with self.lock:
            offers = [(i, remaining) for i, seller, remaining in self.transfers if seller != buyer_id]
        return rng.choice(offers) if offers else None


class Http:
    """Requests to whichever server is alive; an unanswered try is sent again, same key."""

    def __init__(self, servers: Servers, rng: random.Random, deadlines: Deadlines) -> None:
        self.servers = servers
        self.rng = rng
        self.deadlines = deadlines
        self.client = httpx.Client(timeout=REQUEST_TIMEOUT)

    def send(
        self,
        op: Op,
        path: str,
        *,
        token: str | None = None,
        json: dict[str, Any] | None = None,
        method: str = "POST",
    ) -> dict[str, Any] | None:
        """The 2xx answer's body (the op acknowledged), or None (refused or unanswered)."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        if op.key is not None:
            headers["Idempotency-Key"] = op.key
        op.path = path
        pause = 0.05
        while True:
            base = self.servers.pick(self.rng)
            op.attempts += 1
            try:
                response = self.client.request(method, base + path, json=json, headers=headers)
            except httpx.ConnectError:
                self.servers.mark_down(base)  # refused: killed, or starting again
                op.failures.append("connection refused")
            except httpx.HTTPError as exc:
                op.failures.append(type(exc).__name__)  # reset or timed out mid-request: it may have happened
            else:
                if response.status_code < 300:
                    op.outcome, op.code = ACKED, ""
                    body: dict[str, Any] = response.json() if response.content else {}
                    return body
                code = _error_code(response)
                if response.status_code < 500:
                    op.outcome, op.code = REFUSED, code
                    return None
                op.failures.append(f"{response.status_code} {code}")
            if time.monotonic() + pause > self.deadlines.give_up:
                return None  # unanswered
            time.sleep(pause)
            pause = min(1.0, pause * 2)

    def close(self) -> None:
        self.client.close()


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}"


@dataclass
class Shared:
    servers: Servers
    scene: Scene
    tokens: dict[int, str]
    market: Market
    deadlines: Deadlines
    hold_deposit_callback: Callable[[str], bool]  # the delaying gateway: pay, hold the report


class Client(threading.Thread):
    """One user's device… or a few: client ``index`` acts for two investors of its own (so
    their authenticator codes stay in order) and for a borrower of a repaying loan (shared
    with other clients: one borrower paying from two devices at once)."""

    def __init__(
        self, index: int, shared: Shared, investors: list[Person], last_steps: dict[int, int], seed: int
    ) -> None:
        super().__init__(name=f"chaos-client-{index}", daemon=True)
        self.index = index
        self.shared = shared
        self.investors = investors
        self.last_steps = last_steps
        scene = shared.scene
        self.borrower = scene.borrowers[index % len(scene.borrowers)]
        self.loan = scene.repaying[index % len(scene.repaying)]
        self.rng = random.Random(seed)  # noqa: S311 — a reproducible mix, not a secret
        self.http = Http(shared.servers, self.rng, shared.deadlines)
        self.ops: list[Op] = []
        self.my_transfers: list[tuple[int, int]] = []  # open transfer listings: id, seller
        self._count = 0
        self.acts: list[tuple[int, Callable[[], None]]] = [
            (14, self.deposit),
            (10, self.withdraw),
            (30, self.bid),
            (12, self.repay),
            (8, self.list_for_transfer),
            (3, self.cancel_transfer),
            (16, self.buy),
        ]

    def run(self) -> None:
        weights = [w for w, _ in self.acts]
        try:
            while self.shared.deadlines.starting():
                [act] = self.rng.choices([a for _, a in self.acts], weights)
                act()
        finally:
            self.http.close()

    # --- the acts -------------------------------------------------------------------------

    def deposit(self) -> None:
        """充值: an order at the platform, then the payment on the bank's page — or, for some,
        through the harness's gateway that holds the bank's report back (a late callback)."""
        user = self._anyone()
        op = self._op("deposit", user.user_id, "deposit.start")
        amount = self.rng.randrange(1, 51) * MIN_BID
        body = self.http.send(
            op,
            "/api/v1/deposits",
            token=self.shared.tokens[user.user_id],
            json={"amount": yuan_str(amount), "card_id": user.card_id},
        )
        if body is None:
            return
        op.effect = order_no = str(body["order_no"])
        payment = self._op("deposit_payment", user.user_id)
        payment.effect = order_no
        if self.rng.random() < LATE_CALLBACK_SHARE:
            if self.shared.hold_deposit_callback(order_no):
                payment.outcome = ACKED
            else:
                payment.outcome, payment.code = REFUSED, "payment_not_taken"
            return
        self.http.send(payment, f"/sim-bank/deposits/{order_no}/confirm")
        if payment.code == "bank_order_finished":
            payment.outcome = ACKED  # an earlier try was paid; its answer was lost

    def withdraw(self) -> None:
        """提现 with a fresh authenticator code: each time-step works once per user."""
        user = self.rng.choice(self.investors)
        step = self._next_step(user.user_id)
        if step is None:
            return
        assert user.totp_secret is not None
        op = self._op("withdrawal", user.user_id, "withdrawal.request")
        body = self.http.send(
            op,
            "/api/v1/withdrawals",
            token=self.shared.tokens[user.user_id],
            json={
                "amount": yuan_str(self.rng.randrange(1, 101) * 1_000),
                "card_id": user.card_id,
                "totp_code": pyotp.TOTP(user.totp_secret).generate_otp(step),
            },
        )
        if body is not None:
            op.effect = str(body["order_no"])

    def bid(self) -> None:
        loan_id = self.shared.market.listing(self.rng)
        if loan_id is None:
            return
        user = self.rng.choice(self.investors)
        op = self._op("bid", user.user_id, "bid.place")
        body = self.http.send(
            op,
            f"/api/v1/listings/{loan_id}/bids",
            token=self.shared.tokens[user.user_id],
            json={"amount": yuan_str(self.rng.randrange(1, 31) * MIN_BID)},
        )
        if body is not None:
            op.effect = str(body["id"])

    def repay(self) -> None:
        """还款: everything due now (else the next installment), or a part of it."""
        op = self._op("repayment", self.borrower.user_id, "loan.repay")
        part = self.rng.random() < 0.4
        body = self.http.send(
            op,
            f"/api/v1/me/loans/{self.loan}/repayments",
            token=self.shared.tokens[self.borrower.user_id],
            json={"amount": yuan_str(self.rng.randrange(1, 21) * MIN_BID)} if part else {},
        )
        if body is not None:
            op.effect = str(body["id"])

    def list_for_transfer(self) -> None:
        """挂牌转让 a part of an old claim (no Idempotency-Key on this call: it moves no money)."""
        sellers = [u for u in self.investors if self.shared.scene.holdings.get(u.user_id)]
        if not sellers:
            return
        user = self.rng.choice(sellers)
        op = self._op("transfer_listing", user.user_id)
        body = self.http.send(
            op,
            "/api/v1/me/transfers",
            token=self.shared.tokens[user.user_id],
            json={
                "holding_id": self.rng.choice(self.shared.scene.holdings[user.user_id]),
                "principal": yuan_str(self.rng.randrange(1, 21) * MIN_BID),
                "discount_rate": self.rng.choice(DISCOUNTS),
            },
        )
        if body is not None:
            op.effect = str(body["id"])
            self.my_transfers.append((int(body["id"]), user.user_id))

    def cancel_transfer(self) -> None:
        """撤销转让: what is unsold of one of my listings is withdrawn."""
        if not self.my_transfers:
            return
        listing_id, seller_id = self.my_transfers.pop(self.rng.randrange(len(self.my_transfers)))
        op = self._op("transfer_cancel", seller_id)
        path = f"/api/v1/me/transfers/{listing_id}/cancel"
        if self.http.send(op, path, token=self.shared.tokens[seller_id]) is not None:
            op.effect = str(listing_id)

    def buy(self) -> None:
        user = self.rng.choice(self.investors)
        offer = self.shared.market.transfer(self.rng, user.user_id)
        if offer is None:
            return
        listing_id, remaining = offer
        op = self._op("purchase", user.user_id, "transfer.buy")
        principal = min(remaining, self.rng.randrange(1, 11) * MIN_BID)
        body = self.http.send(
            op,
            f"/api/v1/transfers/{listing_id}/buy",
            token=self.shared.tokens[user.user_id],
            json={"principal": yuan_str(principal)},
        )
        if body is not None:
            op.effect = str(body["id"])

    # --- helpers ----------------------------------------------------------------------------

    def _anyone(self) -> Person:
        """One of this client's investors, or the borrower (who needs money to repay)."""
        return self.borrower if self.rng.random() < 0.25 else self.rng.choice(self.investors)

    def _op(self, kind: str, user_id: int, operation: str | None = None) -> Op:
        self._count += 1
        key = (
            None if operation is None else f"chaos-{self.index}-{self._count}-{self.rng.getrandbits(32):08x}"
        )
        op = Op(kind, user_id, operation, key)
        self.ops.append(op)
        return op

    def _next_step(self, user_id: int) -> int | None:
        """A time-step newer than the last this user sent and still accepted (now ± 1)."""
        now = int(time.time()) // TOTP_STEP
        step = max(self.last_steps[user_id] + 1, now - 1)
        if step > now + 1:
            return None
        self.last_steps[user_id] = step
        return step
