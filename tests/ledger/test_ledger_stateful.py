"""The ledger against a model: random deposits, freezes, transfers, withdrawals, replays, overdrafts.

A hypothesis state machine drives the real ``ledger.service`` on a fresh migrated database
per example (SQLite file or PostgreSQL clone) and checks after every step that the books
verify, that every user's balances equal the model's, and that none is negative.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from p2plend.db import make_engine, make_session_factory
from p2plend.errors import InsufficientFunds
from p2plend.ledger import service as ledger
from p2plend.ledger.errors import IdempotencyConflict
from p2plend.ledger.service import CUSTODIAN_CLEARING, Leg, user_available, user_frozen

USERS = (1, 2, 3)
users = st.sampled_from(USERS)
amounts = st.integers(min_value=1, max_value=1_000_000)


@dataclass(frozen=True)
class Posting:
    key: str
    kind: str
    legs: tuple[Leg, ...]


def test_ledger_matches_its_model(fresh_database: Callable[[], AbstractContextManager[str]]) -> None:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.resources = ExitStack()
            self.engine = make_engine(self.resources.enter_context(fresh_database()))
            self.session = make_session_factory(self.engine)()
            self.available = dict.fromkeys(USERS, 0)
            self.frozen = dict.fromkeys(USERS, 0)
            self.posted: list[Posting] = []
            self.serial = 0

        def teardown(self) -> None:
            self.session.close()
            self.engine.dispose()
            self.resources.close()

        # --- driving the ledger -------------------------------------------------------------

        def post(self, kind: str, legs: tuple[Leg, ...], key: str | None = None) -> bool:
            """Post and commit; False (and nothing written) when a user account would overdraw."""
            if key is None:
                self.serial += 1
                key = f"{kind}:{self.serial}"
            try:
                posted = ledger.post(self.session, kind=kind, legs=list(legs), idempotency_key=key)
            except InsufficientFunds:
                self.session.rollback()
                return False
            self.session.commit()
            if posted.created:
                self.posted.append(Posting(key, kind, legs))
            return posted.created

        def move(self, kind: str, source: str, destination: str, amount: int) -> bool:
            return self.post(kind, (Leg(source, -amount), Leg(destination, amount)))

        @initialize()
        def open_accounts(self) -> None:
            for uid in USERS:
                ledger.open_user_accounts(self.session, uid)
            self.session.commit()

        @rule(uid=users, amount=amounts)
        def deposit(self, uid: int, amount: int) -> None:
            assert self.move("deposit", CUSTODIAN_CLEARING, user_available(uid), amount)
            self.available[uid] += amount

        # Moves draw a source that holds money and an amount it can pay, so that money
        # really moves; refusals are exercised by ``overdraft_is_refused``.

        def funded(self, balances: dict[int, int]) -> bool:
            return any(balances.values())

        def draw_source(self, data: st.DataObject, balances: dict[int, int]) -> tuple[int, int]:
            uid = data.draw(st.sampled_from([u for u in USERS if balances[u] > 0]), label="user")
            return uid, data.draw(st.integers(1, balances[uid]), label="amount")

        @precondition(lambda self: self.funded(self.available))
        @rule(data=st.data())
        def freeze(self, data: st.DataObject) -> None:
            uid, amount = self.draw_source(data, self.available)
            assert self.move("freeze", user_available(uid), user_frozen(uid), amount)
            self.available[uid] -= amount
            self.frozen[uid] += amount

        @precondition(lambda self: self.funded(self.frozen))
        @rule(data=st.data())
        def unfreeze(self, data: st.DataObject) -> None:
            uid, amount = self.draw_source(data, self.frozen)
            assert self.move("unfreeze", user_frozen(uid), user_available(uid), amount)
            self.frozen[uid] -= amount
            self.available[uid] += amount

        @precondition(lambda self: self.funded(self.available))
        @rule(data=st.data(), payee=users)
        def transfer(self, data: st.DataObject, payee: int) -> None:
            payer, amount = self.draw_source(data, self.available)
            if payer == payee:
                return
            assert self.move("transfer", user_available(payer), user_available(payee), amount)
            self.available[payer] -= amount
            self.available[payee] += amount

        @precondition(lambda self: self.funded(self.frozen))
        @rule(data=st.data())
        def withdraw(self, data: st.DataObject) -> None:
            """Settle a withdrawal: frozen money leaves custody to the bank card."""
            uid, amount = self.draw_source(data, self.frozen)
            assert self.move("withdrawal", user_frozen(uid), CUSTODIAN_CLEARING, amount)
            self.frozen[uid] -= amount

        @rule(uid=users, source=st.sampled_from(["available", "frozen"]), extra=amounts)
        def overdraft_is_refused(self, uid: int, source: str, extra: int) -> None:
            balances = self.available if source == "available" else self.frozen
            accounts = (user_available(uid), user_frozen(uid))
            src, dst = accounts if source == "available" else accounts[::-1]
            assert not self.move("overdraft", src, dst, balances[uid] + extra)

        @precondition(lambda self: self.posted)
        @rule(data=st.data())
        def replay_changes_nothing(self, data: st.DataObject) -> None:
            earlier = data.draw(st.sampled_from(self.posted))
            assert not self.post(earlier.kind, earlier.legs, key=earlier.key)

        @precondition(lambda self: self.posted)
        @rule(data=st.data())
        def reusing_a_key_for_other_money_is_refused(self, data: st.DataObject) -> None:
            earlier = data.draw(st.sampled_from(self.posted))
            changed = (
                Leg(earlier.legs[0].account, earlier.legs[0].amount - 1),
                Leg(earlier.legs[1].account, earlier.legs[1].amount + 1),
            )
            with pytest.raises(IdempotencyConflict):
                ledger.post(self.session, kind=earlier.kind, legs=list(changed), idempotency_key=earlier.key)
            self.session.rollback()

        # --- what must always hold --------------------------------------------------------------

        @invariant()
        def books_verify(self) -> None:
            assert ledger.verify(self.session) == []

        @invariant()
        def balances_match_the_model(self) -> None:
            for uid in USERS:
                balances = ledger.user_balances(self.session, uid)
                assert balances == ledger.Balances(available=self.available[uid], frozen=self.frozen[uid])
                assert balances.available >= 0 and balances.frozen >= 0
            in_custody = sum(self.available.values()) + sum(self.frozen.values())
            assert ledger.balance(self.session, CUSTODIAN_CLEARING) == -in_custody

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
