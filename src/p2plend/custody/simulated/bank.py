"""The simulated custodian bank: a second institution with its own transactions.

It keeps its own books (``bank_*`` tables) through its own session factory and commits
them before it tells the platform anything, exactly as a real bank does. Outcomes go out
as HMAC-signed callbacks queued in ``bank_callbacks`` and delivered by ``deliver_pending``
through a ``CallbackSink``; a callback stays pending until the platform acknowledges it,
so retries (and therefore duplicates) happen naturally.

Callbacks are never delivered from inside a port call the platform makes: the platform is
then in the middle of its own transaction and would be asked to wait on itself. The
caller delivers after its commit (or a job does); acts the bank starts on its own (the
user confirms a payment on the bank's page) deliver at once.
"""

import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import signing
from p2plend.custody.port import (
    ExecutedTransfer,
    Instruction,
    OrderState,
    OrderStatus,
    PayeeCard,
    PaymentInstruction,
    Statement,
    StatementLine,
    TransferLeg,
)
from p2plend.custody.simulated.models import BankCallback, BankOrder, BankSubAccount, BankTransaction
from p2plend.db import (
    Base,
    among,
    insert_rows,
    make_engine,
    make_session_factory,
    normalise_url,
    transaction,
    update_rows,
)
from p2plend.errors import Conflict, NotFound

# The platform's own fee sub-account is opened under this owner reference.
PLATFORM_FEE_OWNER = "platform:fee_income"
BANK_TABLES = [
    Base.metadata.tables[model.__tablename__]
    for model in (BankSubAccount, BankTransaction, BankOrder, BankCallback)
]


class BankOrderNotFound(NotFound):
    code = "bank_order_not_found"


class BankOrderFinished(Conflict):
    code = "bank_order_finished"


class BankInstructionReused(Conflict):
    code = "bank_instruction_reused"


class _ShortOfFunds(Exception):
    """A leg of a batch transfer would overdraw: the whole batch is undone."""


class CallbackSink(Protocol):
    def deliver(self, body: bytes, signature: str) -> bool:
        """Hand one signed callback to the platform; True when it acknowledged it."""
        ...


@dataclass
class BankOptions:
    # Withdrawals to these card numbers fail at the bank (a closed or frozen card).
    failing_cards: frozenset[str] = frozenset()
    # Pay out or fail a withdrawal as soon as it is submitted; False leaves it for
    # ``pay_out_withdrawal`` / ``fail_withdrawal`` (tests of late or failed payouts).
    auto_process_withdrawals: bool = True
    payment_base_url: str = "/sim-bank"


def bank_database_url(platform_url: str, override: str | None = None) -> str:
    """The bank's database: the override, else the platform's on PostgreSQL (its own tables,
    its own transactions), else a sibling SQLite file — SQLite has one writer per file, and
    the platform may call the bank while its own write transaction is open."""
    if override:
        return normalise_url(override)
    url = make_url(normalise_url(platform_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return url.render_as_string(hide_password=False)
    path = Path(url.database)
    return str(url.set(database=str(path.with_name(f"{path.stem}-custodian{path.suffix or '.sqlite'}"))))


class SimulatedBank:
    """Implements ``custody.port.Custodian``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        secret: str,
        sink: CallbackSink | None = None,
        options: BankOptions | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.session_factory = session_factory
        self._secret = secret
        self.sink = sink
        self.options = options or BankOptions()
        self._engine = engine  # owned (disposed by close) when the bank created it

    @classmethod
    def at(
        cls, url: str, *, secret: str, sink: CallbackSink | None = None, options: BankOptions | None = None
    ) -> "SimulatedBank":
        """A bank on its own engine; creates its tables when its database is new."""
        engine = make_engine(url)
        Base.metadata.create_all(engine, tables=BANK_TABLES, checkfirst=True)
        return cls(make_session_factory(engine), secret=secret, sink=sink, options=options, engine=engine)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @contextmanager
    def _books(self) -> Iterator[Session]:
        with transaction(self.session_factory) as session:
            yield session

    # --- the port ----------------------------------------------------------------------

    def open_sub_account(self, owner_ref: str, name: str, id_number: str) -> str:
        with self._books() as session:
            existing = session.scalar(
                select(BankSubAccount.account_no).where(BankSubAccount.owner_ref == owner_ref)
            )
            if existing is not None:
                return existing
            account = BankSubAccount(
                account_no="SA" + secrets.token_hex(6).upper(),
                owner_ref=owner_ref,
                holder_name_masked=(name[:1] + "**") if name else "",
                id_number_masked=(id_number[:3] + "*" * 11 + id_number[-4:]) if len(id_number) > 7 else "***",
                balance=0,
                opened_at=clock.now(),
            )
            try:
                with session.begin_nested():
                    session.add(account)
                    session.flush()
            except IntegrityError:
                # Opened concurrently for the same owner: answer with that account.
                found = session.scalar(
                    select(BankSubAccount.account_no).where(BankSubAccount.owner_ref == owner_ref)
                )
                assert found is not None
                return found
            return account.account_no

    def begin_deposit(
        self, order_no: str, sub_account_no: str, amount: int, card: PayeeCard
    ) -> PaymentInstruction:
        with self._books() as session:
            self._sub_account(session, sub_account_no)
            if self._order(session, order_no) is None:
                self._add_order(
                    session,
                    order_no=order_no,
                    kind="deposit",
                    sub_account_no=sub_account_no,
                    amount=amount,
                    fee=0,
                    card=card,
                )
        return PaymentInstruction(
            order_no=order_no, payment_url=f"{self.options.payment_base_url}/deposits/{order_no}"
        )

    def submit_withdrawal(
        self, order_no: str, sub_account_no: str, amount: int, fee: int, card: PayeeCard
    ) -> None:
        with self._books() as session:
            self._sub_account(session, sub_account_no)
            order = self._order(session, order_no)
            if order is None:
                order = self._add_order(
                    session,
                    order_no=order_no,
                    kind="withdrawal",
                    sub_account_no=sub_account_no,
                    amount=amount,
                    fee=fee,
                    card=card,
                )
                order.card_fails = card.card_number in self.options.failing_cards
            if order.status == "pending" and self.options.auto_process_withdrawals:
                self._process_withdrawal(session, order)

    def query_order(self, order_no: str) -> OrderState | None:
        with self._books() as session:
            order = self._order(session, order_no)
            if order is None:
                return None
            return OrderState(
                order_no=order.order_no,
                kind=order.kind,  # type: ignore[arg-type]
                status=order.status,  # type: ignore[arg-type]
                sub_account_no=order.sub_account_no,
                amount=order.amount,
                fee=order.fee,
            )

    def transfer(self, instruction_no: str, legs: Sequence[TransferLeg]) -> OrderStatus:
        [status] = self.transfer_many([Instruction(instruction_no, tuple(legs))])
        return status

    def transfer_many(self, instructions: Sequence[Instruction]) -> list[OrderStatus]:
        """The new instructions' legs are applied together when every payer can pay its part
        of them all, else one instruction after the other; replays answer the first outcome."""
        for instruction in instructions:
            if not instruction.legs or any(leg.amount <= 0 for leg in instruction.legs):
                raise ValueError("a transfer instruction has at least one leg, each a positive amount")
        numbers = [i.instruction_no for i in instructions]
        if len(set(numbers)) != len(numbers):
            raise ValueError("one instruction per number in a batch")
        with self._books() as session:
            known = {
                order.order_no.removesuffix(".1"): order
                for order in session.scalars(
                    select(BankOrder)
                    .where(BankOrder.order_no.in_([f"{no}.1" for no in numbers]))
                    .with_for_update()
                )
            }
            for instruction in instructions:
                if instruction.instruction_no in known:
                    first = known[instruction.instruction_no]
                    self._refuse_other_legs(session, instruction.instruction_no, instruction.legs, first)
            fresh = [i for i in instructions if i.instruction_no not in known]
            outcome: dict[str, OrderStatus] = {no: order.status for no, order in known.items()}  # type: ignore[misc]
            try:
                with session.begin_nested():
                    self._move(session, fresh)
                outcome.update((i.instruction_no, "succeeded") for i in fresh)
            except _ShortOfFunds:
                outcome.update((i.instruction_no, self._transfer_alone(session, i)) for i in fresh)
            return [outcome[no] for no in numbers]

    def _transfer_alone(self, session: Session, instruction: Instruction) -> OrderStatus:
        try:
            with session.begin_nested():
                self._move(session, [instruction])
        except _ShortOfFunds:
            # Nothing moved: record the refusal once, under the instruction's first leg.
            order = self._add_order(
                session,
                order_no=f"{instruction.instruction_no}.1",
                kind="transfer",
                sub_account_no=instruction.legs[0].from_sub,
                amount=sum(leg.amount for leg in instruction.legs),
                fee=0,
                card=None,
            )
            self._finish(order, "failed", "insufficient balance")
            return "failed"
        return "succeeded"

    def _move(self, session: Session, instructions: Sequence[Instruction]) -> None:
        """Apply instructions with a fixed number of statements however many legs: the
        sub-accounts locked in id order (no deadlocks), one conditional update per sub-account
        paying out (the bank never overdraws), one update of all those paid in, then the
        orders and the journal lines, each in one insert."""
        if not instructions:
            return
        net: dict[str, int] = {}
        for instruction in instructions:
            for leg in instruction.legs:
                net[leg.from_sub] = net.get(leg.from_sub, 0) - leg.amount
                net[leg.to_sub] = net.get(leg.to_sub, 0) + leg.amount
        ids = dict(
            session.execute(
                select(BankSubAccount.account_no, BankSubAccount.id)
                .where(among(session, BankSubAccount.account_no, net))
                .order_by(BankSubAccount.id)
                .with_for_update()
            ).all()
        )
        unknown = sorted(set(net) - set(ids))
        if unknown:
            raise NotFound(f"The bank has no sub-account {unknown[0]}.", details={"sub_account": unknown[0]})
        for account_no in sorted((a for a in net if net[a] < 0), key=ids.__getitem__):
            result = session.execute(
                update(BankSubAccount)
                .where(BankSubAccount.id == ids[account_no], BankSubAccount.balance + net[account_no] >= 0)
                .values(balance=BankSubAccount.balance + net[account_no])
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise _ShortOfFunds
        credits = [{"id": ids[a], "balance": amount} for a, amount in net.items() if amount > 0]
        update_rows(session, BankSubAccount, credits, increment=True)
        now, today = clock.now(), clock.today()
        numbered = [
            (f"{instruction.instruction_no}.{n}", leg)
            for instruction in instructions
            for n, leg in enumerate(instruction.legs, 1)
        ]
        insert_rows(
            session,
            BankOrder,
            [
                {
                    "order_no": order_no,
                    "sub_account_no": leg.from_sub,
                    "counterparty_no": leg.to_sub,
                    "amount": leg.amount,
                }
                for order_no, leg in numbered
            ],
            shared={
                "kind": "transfer",
                "status": "succeeded",
                "fee": 0,
                "created_at": now,
                "finished_at": now,
            },
        )
        insert_rows(
            session,
            BankTransaction,
            [
                {"sub_account_id": ids[account_no], "amount": amount, "kind": kind, "order_no": order_no}
                for order_no, leg in numbered
                for account_no, amount, kind in (
                    (leg.from_sub, -leg.amount, "transfer_out"),
                    (leg.to_sub, leg.amount, "transfer_in"),
                )
            ],
            shared={"value_date": today, "created_at": now},
        )

    def _refuse_other_legs(
        self, session: Session, instruction_no: str, legs: Sequence[TransferLeg], first: BankOrder
    ) -> None:
        """A replay must be the same instruction: a number reused for other legs is refused."""
        if first.status == "failed":
            same = first.sub_account_no == legs[0].from_sub and first.amount == sum(
                leg.amount for leg in legs
            )
        else:
            orders = session.scalars(
                select(BankOrder).where(BankOrder.order_no.like(f"{instruction_no}.%")).order_by(BankOrder.id)
            ).all()
            done = [(o.sub_account_no, o.counterparty_no, o.amount) for o in orders]
            same = done == [(leg.from_sub, leg.to_sub, leg.amount) for leg in legs]
        if not same:
            raise BankInstructionReused(
                f"Instruction {instruction_no} was already given with other legs.",
                details={"instruction": instruction_no},
            )

    def transfers_between(self, start: datetime, end: datetime) -> list[ExecutedTransfer]:
        """From the succeeded transfer orders, one per leg (``{instruction}.{n}``), in one read."""
        with self._books() as session:
            rows = session.execute(
                select(
                    BankOrder.order_no,
                    BankOrder.sub_account_no,
                    BankOrder.counterparty_no,
                    BankOrder.amount,
                    BankOrder.finished_at,
                )
                .where(
                    BankOrder.kind == "transfer",
                    BankOrder.status == "succeeded",
                    BankOrder.finished_at >= start,
                    BankOrder.finished_at < end,
                )
                .order_by(BankOrder.id)
            ).all()
        legs: dict[str, list[TransferLeg]] = {}
        executed: dict[str, datetime] = {}
        for order_no, from_sub, to_sub, amount, finished_at in rows:
            instruction_no = order_no.rsplit(".", 1)[0]
            # A succeeded transfer leg always has its counterparty and its finishing time.
            assert to_sub is not None and finished_at is not None
            legs.setdefault(instruction_no, []).append(TransferLeg(from_sub, to_sub, amount))
            executed[instruction_no] = finished_at
        return [ExecutedTransfer(no, tuple(legs[no]), executed[no]) for no in legs]

    def statement(self, day: date) -> Statement:
        with self._books() as session:
            sums = dict(
                session.execute(
                    select(BankTransaction.sub_account_id, func.coalesce(func.sum(BankTransaction.amount), 0))
                    .where(BankTransaction.value_date <= day)
                    .group_by(BankTransaction.sub_account_id)
                ).all()
            )
            accounts = session.execute(
                select(BankSubAccount.id, BankSubAccount.account_no, BankSubAccount.owner_ref).order_by(
                    BankSubAccount.id
                )
            ).all()
            lines = tuple(StatementLine(no, owner, int(sums.get(pk, 0))) for pk, no, owner in accounts)
        return Statement(day=day, lines=lines)

    def balances(self) -> dict[str, int]:
        with self._books() as session:
            rows = session.execute(select(BankSubAccount.account_no, BankSubAccount.balance)).all()
            return {no: balance for no, balance in rows}

    def deliver_pending(self) -> int:
        """Send every pending callback, oldest first; unacknowledged ones stay for the next run."""
        if self.sink is None:
            return 0
        with self._books() as session:
            pending = session.execute(
                select(BankCallback.id, BankCallback.body, BankCallback.signature)
                .where(BankCallback.status == "pending")
                .order_by(BankCallback.id)
            ).all()
        acknowledged = 0
        for callback_id, body, signature in pending:
            # Outside any bank transaction: the platform handles it in its own.
            ok = self.sink.deliver(body.encode(), signature)
            with self._books() as session:
                values: dict[str, Any] = {"attempts": BankCallback.attempts + 1}
                if ok:
                    values.update(status="delivered", delivered_at=clock.now())
                session.execute(update(BankCallback).where(BankCallback.id == callback_id).values(**values))
            acknowledged += ok
        return acknowledged

    # --- what happens at the bank (its page, its back office) --------------------------

    def confirm_deposit_payment(
        self, order_no: str, *, paid_amount: int | None = None, deliver: bool = True
    ) -> None:
        """The user paid on the bank's page: credit the sub-account with what was paid."""
        with self._books() as session:
            order = self._pending_order(session, order_no, "deposit")
            paid = order.amount if paid_amount is None else paid_amount
            order.paid_amount = paid
            self._credit(session, order.sub_account_no, paid, "deposit", order_no)
            self._finish(order, "succeeded", amount=paid)
        if deliver:
            self.deliver_pending()

    def fail_deposit_payment(
        self, order_no: str, *, reason: str = "payment declined", deliver: bool = True
    ) -> None:
        with self._books() as session:
            self._finish(self._pending_order(session, order_no, "deposit"), "failed", reason)
        if deliver:
            self.deliver_pending()

    def pay_out_withdrawal(self, order_no: str, *, deliver: bool = True) -> None:
        with self._books() as session:
            self._process_withdrawal(session, self._pending_order(session, order_no, "withdrawal"))
        if deliver:
            self.deliver_pending()

    def fail_withdrawal(
        self, order_no: str, *, reason: str = "payout rejected by the card's bank", deliver: bool = True
    ) -> None:
        with self._books() as session:
            self._finish(self._pending_order(session, order_no, "withdrawal"), "failed", reason)
        if deliver:
            self.deliver_pending()

    def resend_callback(self, order_no: str, **overrides: Any) -> str:
        """Report a finished order again under a new event id, optionally with altered fields
        (a misbehaving gateway: re-sent, reordered or contradictory reports). Queued only."""
        with self._books() as session:
            order = self._order(session, order_no)
            payload = self._payload(order) if order is not None else {"order_no": order_no}
            payload.update(overrides)
            return self._enqueue(session, payload)

    def pending_callbacks(self) -> int:
        with self._books() as session:
            return session.scalar(select(func.count()).where(BankCallback.status == "pending")) or 0

    # --- bookkeeping -------------------------------------------------------------------

    def _process_withdrawal(self, session: Session, order: BankOrder) -> None:
        if order.card_fails:
            self._finish(order, "failed", "the card cannot receive payments")
            return
        if order.fee and self._fee_account_no(session) is None:
            self._finish(order, "failed", "the platform has no fee sub-account")
            return
        if not self._debit(
            session, order.sub_account_no, order.amount + order.fee, "withdrawal", order.order_no
        ):
            self._finish(order, "failed", "insufficient balance")
            return
        if order.fee:
            fee_no = self._fee_account_no(session)
            assert fee_no is not None
            self._credit(session, fee_no, order.fee, "withdrawal_fee", order.order_no)
        self._finish(order, "succeeded")

    def _fee_account_no(self, session: Session) -> str | None:
        return session.scalar(
            select(BankSubAccount.account_no).where(BankSubAccount.owner_ref == PLATFORM_FEE_OWNER)
        )

    def _sub_account(self, session: Session, account_no: str) -> BankSubAccount:
        account = session.scalars(
            select(BankSubAccount).where(BankSubAccount.account_no == account_no)
        ).first()
        if account is None:
            raise NotFound(f"The bank has no sub-account {account_no}.", details={"sub_account": account_no})
        return account

    def _order(self, session: Session, order_no: str) -> BankOrder | None:
        return session.scalars(
            select(BankOrder).where(BankOrder.order_no == order_no).with_for_update()
        ).first()

    def _pending_order(self, session: Session, order_no: str, kind: str) -> BankOrder:
        order = self._order(session, order_no)
        if order is None or order.kind != kind:
            raise BankOrderNotFound(
                f"The bank has no {kind} order {order_no}.", details={"order_no": order_no}
            )
        if order.status != "pending":
            raise BankOrderFinished(
                f"Order {order_no} is already {order.status}.", details={"order_no": order_no}
            )
        return order

    def _add_order(
        self,
        session: Session,
        *,
        order_no: str,
        kind: str,
        sub_account_no: str,
        amount: int,
        fee: int,
        card: PayeeCard | None,
    ) -> BankOrder:
        order = BankOrder(
            order_no=order_no,
            kind=kind,
            status="pending",
            sub_account_no=sub_account_no,
            amount=amount,
            fee=fee,
            card_masked=None if card is None else f"{card.card_number[:4]} **** **** {card.card_number[-4:]}",
            created_at=clock.now(),
        )
        session.add(order)
        session.flush()
        return order

    def _credit(self, session: Session, account_no: str, amount: int, kind: str, order_no: str) -> None:
        account = self._sub_account(session, account_no)
        session.execute(
            update(BankSubAccount)
            .where(BankSubAccount.id == account.id)
            .values(balance=BankSubAccount.balance + amount)
        )
        self._journal(session, account.id, amount, kind, order_no)

    def _debit(self, session: Session, account_no: str, amount: int, kind: str, order_no: str) -> bool:
        account = self._sub_account(session, account_no)
        # Conditional update: the bank itself never overdraws, whatever runs concurrently.
        result = session.execute(
            update(BankSubAccount)
            .where(BankSubAccount.id == account.id, BankSubAccount.balance >= amount)
            .values(balance=BankSubAccount.balance - amount)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self._journal(session, account.id, -amount, kind, order_no)
        return True

    def _journal(self, session: Session, account_id: int, amount: int, kind: str, order_no: str) -> None:
        session.add(
            BankTransaction(
                sub_account_id=account_id,
                amount=amount,
                value_date=clock.today(),
                kind=kind,
                order_no=order_no,
                created_at=clock.now(),
            )
        )
        session.flush()

    def _finish(
        self, order: BankOrder, status: str, reason: str | None = None, *, amount: int | None = None
    ) -> None:
        order.status = status
        order.reason = reason
        order.finished_at = clock.now()
        session = Session.object_session(order)
        assert session is not None
        if order.kind != "transfer":
            self._enqueue(session, self._payload(order) | ({"amount": amount} if amount is not None else {}))

    def _payload(self, order: BankOrder) -> dict[str, Any]:
        return {
            "type": order.kind,
            "order_no": order.order_no,
            "status": order.status,
            "sub_account": order.sub_account_no,
            "amount": order.paid_amount if order.paid_amount is not None else order.amount,
            "fee": order.fee,
            "reason": order.reason,
        }

    def _enqueue(self, session: Session, payload: dict[str, Any]) -> str:
        event_id = "EV" + secrets.token_hex(8).upper()
        body = json.dumps(
            {"event_id": event_id, "occurred_at": clock.now().isoformat(), **payload},
            separators=(",", ":"),
            sort_keys=True,
        )
        session.add(
            BankCallback(
                event_id=event_id,
                order_no=str(payload.get("order_no", "")),
                body=body,
                signature=signing.sign(body.encode(), self._secret),
                status="pending",
                attempts=0,
                created_at=clock.now(),
            )
        )
        session.flush()
        return event_id


def failing_cards(numbers: Iterable[str]) -> frozenset[str]:
    return frozenset(n.strip() for n in numbers if n.strip())
