"""The custodian bank port (资金存管银行接口).

Every movement of users' money happens at the custodian bank, in the user's own
sub-account; the platform only instructs and keeps a mirror of it in the ledger. This
Protocol is all the platform knows of the bank: the simulated bank implements it, a real
bank's adapter would be a second implementation. The bank reports outcomes back through
HMAC-SHA256-signed callbacks (see ``custody.signing``), never through return values alone.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

OrderKind = Literal["deposit", "withdrawal", "transfer"]
OrderStatus = Literal["pending", "succeeded", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class PayeeCard:
    """The user's bound card (同卡进出): money comes from it and goes back only to it."""

    card_number: str
    bank_name: str


@dataclass(frozen=True, slots=True)
class PaymentInstruction:
    """Where the user goes to pay a deposit: the bank's own page."""

    order_no: str
    payment_url: str


@dataclass(frozen=True, slots=True)
class OrderState:
    order_no: str
    kind: OrderKind
    status: OrderStatus
    sub_account_no: str
    amount: int
    fee: int


@dataclass(frozen=True, slots=True)
class TransferLeg:
    """One movement between two sub-accounts inside a batch instruction."""

    from_sub: str
    to_sub: str
    amount: int


@dataclass(frozen=True, slots=True)
class Instruction:
    """One batch instruction of ``transfer_many``: its number and its legs."""

    instruction_no: str
    legs: tuple[TransferLeg, ...]


@dataclass(frozen=True, slots=True)
class ExecutedTransfer:
    """A batch transfer the bank carried out, as its transaction file (交易明细) gives it."""

    instruction_no: str
    legs: tuple[TransferLeg, ...]
    executed_at: datetime


@dataclass(frozen=True, slots=True)
class StatementLine:
    sub_account_no: str
    owner_ref: str
    balance: int


@dataclass(frozen=True, slots=True)
class Statement:
    """The bank's balances of every sub-account at the end of ``day`` (对账单)."""

    day: date
    lines: tuple[StatementLine, ...]

    def balance_of(self, sub_account_no: str) -> int:
        return next((line.balance for line in self.lines if line.sub_account_no == sub_account_no), 0)


class Custodian(Protocol):
    def open_sub_account(self, owner_ref: str, name: str, id_number: str) -> str:
        """Open (or find, by ``owner_ref``) the owner's sub-account; returns its number."""
        ...

    def begin_deposit(
        self, order_no: str, sub_account_no: str, amount: int, card: PayeeCard
    ) -> PaymentInstruction:
        """Register a deposit order; the user pays on the bank's page. Idempotent per order."""
        ...

    def submit_withdrawal(
        self, order_no: str, sub_account_no: str, amount: int, fee: int, card: PayeeCard
    ) -> None:
        """Instruct a withdrawal of ``amount`` to ``card`` plus ``fee`` to the platform's fee
        sub-account. Idempotent per order; the outcome arrives as a callback."""
        ...

    def query_order(self, order_no: str) -> OrderState | None: ...

    def transfer(self, instruction_no: str, legs: Sequence[TransferLeg]) -> OrderStatus:
        """Move money between sub-accounts at the bank: all legs, in order, or none
        (批量转账: a disbursement, a repayment's split among holders). Idempotent per
        instruction: a replay answers the first outcome and moves nothing; the same number
        with other legs is refused."""
        ...

    def transfer_many(self, instructions: Sequence[Instruction]) -> list[OrderStatus]:
        """``transfer`` of several instructions (with distinct numbers) in one exchange — a
        day's repayments — each all or nothing and answered in order, as ``transfer`` would."""
        ...

    def transfers_between(self, start: datetime, end: datetime) -> list[ExecutedTransfer]:
        """The batch transfers the bank carried out with ``start <= executed_at < end``, oldest
        first (refused ones moved nothing and are not listed)."""
        ...

    def statement(self, day: date) -> Statement: ...

    def balances(self) -> dict[str, int]:
        """Current balance of every sub-account, by number (live reconciliation)."""
        ...

    def deliver_pending(self) -> int:
        """Send callbacks not yet acknowledged; returns how many were acknowledged."""
        ...
