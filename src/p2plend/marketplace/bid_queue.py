"""Group commit for bids on a hot listing (集中撮合).

When a popular listing opens, hundreds of investors bid on it at once. Each bid must lock the
listing row, so one transaction per bid runs them strictly one after another, each paying for
its own lock wait, its own dozen statements and its own commit. The queue instead lets the
bids that arrive while a batch is being written wait for the next batch, and writes each
batch with ``marketplace.place_bids``: one lock, one set of reads, one set of writes, one
commit for up to ``MAX_BATCH`` bids.

Every bid still gets its own answer. ``place_bids`` decides the orders in arrival order, each
against the listing as the bids before it left it, so a refused bid (``listing_fully_funded``,
``insufficient_funds`` …) gets its own error and the listing can never be over-funded. Only
when the batch's transaction itself fails do all of its bids fail, together and with nothing
written, exactly as if each had been its own transaction.

Around each bid the caller may run its own reads and writes in the batch's transaction, after
the listing is locked: ``before`` (the API's idempotency replay: an answer without a bid) and
``after`` (the API's stored response). Two bids with the same ``dedupe_key`` never share a
batch, so the second's ``before`` sees the first's ``after``.

There is no background thread: the first caller to find no batch running for its listing
writes the batch (its own bid and whoever queued meanwhile), then hands the next batch to the
oldest caller still waiting. Each caller's hooks run in that caller's context, so its log
lines carry its own request id. One queue per process; processes (API workers) still
serialise on the listing's row lock, batch by batch.
"""

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.orm import Session, sessionmaker

from p2plend.db import transaction
from p2plend.errors import DomainError
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import BidNotWritten
from p2plend.marketplace.models import Bid

T = TypeVar("T")

log = structlog.get_logger()

MAX_BATCH = 200  # bids per transaction: bounds the time one batch holds the listing's row lock


@dataclass(eq=False)
class _Queued(Generic[T]):
    order: marketplace.BidOrder
    before: Callable[[Session], T | None]
    after: Callable[[Session, Bid], T]
    dedupe_key: str | None
    context: contextvars.Context
    turn: threading.Event = field(default_factory=threading.Event)  # leading, or answered
    leading: bool = False
    answered: bool = False
    result: T | None = None
    error: BaseException | None = None


def _no_answer(_session: Session) -> None:
    return None


class BidQueue:
    """Bids on each listing written in shared transactions, at most ``max_batch`` each."""

    def __init__(self, factory: sessionmaker[Session], *, max_batch: int = MAX_BATCH) -> None:
        self._factory = factory
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: dict[int, list[_Queued[Any]]] = {}
        self._writing: set[int] = set()  # listings whose batch is being written
        self.batches = 0  # transactions written: bids per transaction = bids / batches

    def waiting(self, loan_id: int) -> int:
        """Bids queued for ``loan_id`` behind the batch being written."""
        with self._lock:
            return len(self._waiting.get(loan_id, ()))

    def submit(
        self,
        loan_id: int,
        order: marketplace.BidOrder,
        *,
        after: Callable[[Session, Bid], T],
        before: Callable[[Session], T | None] = _no_answer,
        dedupe_key: str | None = None,
    ) -> T:
        """Place ``order`` in the next batch for ``loan_id``; return ``after(session, bid)``, or
        what ``before`` answered instead, or raise the bid's refusal. The hooks must only
        touch the session they are given."""
        queued: _Queued[T] = _Queued(order, before, after, dedupe_key, contextvars.copy_context())
        with self._lock:
            self._waiting.setdefault(loan_id, []).append(queued)
            if loan_id not in self._writing:
                self._writing.add(loan_id)
                queued.leading = True
        while not queued.answered:
            if queued.leading:
                queued.leading = False
                self._write_batch(loan_id)
            else:
                queued.turn.wait()
                queued.turn.clear()
        if queued.error is not None:
            raise queued.error
        return queued.result  # type: ignore[return-value]  # T, set when no error

    def _write_batch(self, loan_id: int) -> None:
        batch = self._take_batch(loan_id)
        hook: _Queued[Any] | None = None  # whose hook is running: it owns a failure there
        try:
            with transaction(self._factory) as session:
                marketplace.lock_loan(session, loan_id)
                bidding = []
                for queued in batch:
                    hook = queued
                    if _prepared(session, queued):
                        bidding.append(queued)
                hook = None
                outcomes = marketplace.place_bids(session, loan_id, [queued.order for queued in bidding])
                for queued, outcome in zip(bidding, outcomes, strict=True):
                    if isinstance(outcome, DomainError):
                        queued.error = outcome
                    else:
                        hook = queued
                        queued.result = queued.context.run(queued.after, session, outcome)
                hook = None
        except BaseException as exc:  # nothing of the batch was written
            self._fail(loan_id, batch, exc, hook)
        finally:
            self._answer(loan_id, batch)

    def _fail(
        self, loan_id: int, batch: list[_Queued[Any]], exc: BaseException, hook: _Queued[Any] | None
    ) -> None:
        """The listing's own refusal (``loan_not_found``) answers every bid; a failure in one
        bid's hook answers that bid; every other bid is told it was not written."""
        if hook is None and isinstance(exc, DomainError):
            for queued in batch:
                queued.result, queued.error = None, exc
            return
        log.warning("bid_queue.batch_failed", loan_id=loan_id, bids=len(batch), error=repr(exc))
        for queued in batch:
            queued.result = None
            queued.error = exc if queued is hook else BidNotWritten.after(exc)

    def _take_batch(self, loan_id: int) -> list[_Queued[Any]]:
        """The oldest waiting bids, at most one per dedupe key; the rest keep their places."""
        with self._lock:
            batch: list[_Queued[Any]] = []
            rest: list[_Queued[Any]] = []
            keys: set[str] = set()
            for queued in self._waiting[loan_id]:
                if len(batch) == self._max_batch or queued.dedupe_key in keys:
                    rest.append(queued)
                    continue
                batch.append(queued)
                if queued.dedupe_key is not None:
                    keys.add(queued.dedupe_key)
            self._waiting[loan_id] = rest
            self.batches += 1
            return batch

    def _answer(self, loan_id: int, batch: list[_Queued[Any]]) -> None:
        with self._lock:
            waiting = self._waiting[loan_id]
            if waiting:
                waiting[0].leading = True
                waiting[0].turn.set()
            else:
                del self._waiting[loan_id]
                self._writing.discard(loan_id)
        for queued in batch:
            queued.answered = True
            queued.turn.set()


def _prepared(session: Session, queued: _Queued[Any]) -> bool:
    """Run the bid's ``before``: False when it answered (or refused) without a bid."""
    try:
        answer = queued.context.run(queued.before, session)
    except DomainError as refusal:
        queued.error = refusal
        return False
    if answer is None:
        return True
    queued.result = answer
    return False
