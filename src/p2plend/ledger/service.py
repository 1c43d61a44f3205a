"""The double-entry ledger: post balanced entries, read balances, verify invariants.

Sign convention: a posting's amount is money *into* the account. A user's ``available``
and ``frozen`` balances are what the user owns at the custodian; money arriving from
outside the custody system comes from ``external:custodian_clearing``, which therefore
runs negative. Every entry sums to zero, so all balances together sum to zero.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.db import among, insert_rows, update_rows
from p2plend.errors import InsufficientFunds
from p2plend.ledger.errors import IdempotencyConflict, UnbalancedEntry, UnknownAccount
from p2plend.ledger.models import JournalEntry, LedgerAccount, Posting

# The chart of accounts beyond each user's pair. Created by migration 0002.
PLATFORM_FEE_INCOME = "platform:fee_income"  # the platform's own custody sub-account for fees
PLATFORM_OWN_FUNDS = "platform:own_funds"  # the platform's own money (marketing etc.), never users'
RISK_RESERVE = "platform:risk_reserve"  # 风险备付金: off by default (DOMAIN.md §8)
CUSTODIAN_CLEARING = "external:custodian_clearing"  # money entering/leaving custody via bank cards

USER_KINDS = ("available", "frozen")


def user_available(user_id: int) -> str:
    return f"user:{user_id}:available"


def user_frozen(user_id: int) -> str:
    return f"user:{user_id}:frozen"


@dataclass(frozen=True)
class Leg:
    account: str  # account code
    amount: int  # fen into the account (negative: out of it)


@dataclass(frozen=True)
class Posted:
    entry: JournalEntry
    created: bool  # False when the idempotency key had already been posted


@dataclass(frozen=True)
class Balances:
    available: int
    frozen: int

    @property
    def total(self) -> int:
        return self.available + self.frozen


def open_user_accounts(session: Session, user_id: int) -> None:
    """Create the user's ``available`` and ``frozen`` accounts (idempotent)."""
    existing = set(
        session.scalars(
            select(LedgerAccount.kind).where(
                LedgerAccount.owner_type == "user", LedgerAccount.owner_id == user_id
            )
        ).all()
    )
    for kind in USER_KINDS:
        if kind not in existing:
            session.add(
                LedgerAccount(
                    code=f"user:{user_id}:{kind}",
                    owner_type="user",
                    owner_id=user_id,
                    kind=kind,
                    balance=0,
                    created_at=clock.now(),
                )
            )
    session.flush()


def post(
    session: Session,
    *,
    kind: str,
    legs: Sequence[Leg],
    idempotency_key: str,
    ref_type: str | None = None,
    ref_id: str | int | None = None,
    memo: str = "",
    business_date: date | None = None,
    reverses_entry_id: int | None = None,
) -> Posted:
    """Post one balanced journal entry, exactly once per idempotency key.

    Replaying a key with the same legs returns the first entry unchanged; with other
    legs it is refused. A user account that would go below zero refuses the whole entry
    with ``insufficient_funds`` and nothing is written.
    """
    merged = _merge_legs(legs)
    if len(merged) < 2 or sum(merged.values()) != 0:
        raise UnbalancedEntry(
            f"entry {idempotency_key!r} does not balance",
            details={"legs": {k: v for k, v in merged.items()}},
        )
    fingerprint = _fingerprint(kind, merged)
    existing = _entry_by_key(session, idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint)

    accounts = _lock_accounts(session, list(merged))
    try:
        with session.begin_nested():
            entry = JournalEntry(
                kind=kind,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                business_date=business_date or clock.today(),
                created_at=clock.now(),
                ref_type=ref_type,
                ref_id=None if ref_id is None else str(ref_id),
                memo=memo[:200],
                reverses_entry_id=reverses_entry_id,
            )
            session.add(entry)
            session.flush()
            _apply(session, accounts, merged)
            insert_rows(
                session,
                Posting,
                [{"account_id": accounts[code].id, "amount": amount} for code, amount in merged.items()],
                shared={"entry_id": entry.id},
            )
    except IntegrityError:
        # Another transaction posted the same key first: answer with its entry.
        existing = _entry_by_key(session, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    _forget_balances(session, accounts.values())
    return Posted(entry=entry, created=True)


def transfer(
    session: Session,
    *,
    kind: str,
    source: str,
    destination: str,
    amount: int,
    idempotency_key: str,
    ref_type: str | None = None,
    ref_id: str | int | None = None,
    memo: str = "",
) -> Posted:
    """A two-leg entry: ``amount`` fen from ``source`` to ``destination``."""
    return post(
        session,
        kind=kind,
        legs=[Leg(source, -amount), Leg(destination, amount)],
        idempotency_key=idempotency_key,
        ref_type=ref_type,
        ref_id=ref_id,
        memo=memo,
    )


@dataclass(frozen=True)
class Transfer:
    """One two-leg entry of ``transfer_many``: ``amount`` fen from ``source`` to ``destination``."""

    kind: str
    source: str
    destination: str
    amount: int
    idempotency_key: str
    ref_type: str | None = None
    ref_id: str | int | None = None
    memo: str = ""


def transfer_many(session: Session, transfers: Sequence[Transfer]) -> list[Posted]:
    """Many two-leg entries (a batch of bids), as ``post_many``."""
    for t in transfers:
        if t.amount <= 0 or t.source == t.destination:
            raise UnbalancedEntry(f"entry {t.idempotency_key!r} moves nothing", details={"amount": t.amount})
    return post_many(
        session,
        [
            NewEntry(
                kind=t.kind,
                legs=(Leg(t.source, -t.amount), Leg(t.destination, t.amount)),
                idempotency_key=t.idempotency_key,
                ref_type=t.ref_type,
                ref_id=t.ref_id,
                memo=t.memo,
            )
            for t in transfers
        ],
    )


@dataclass(frozen=True)
class NewEntry:
    """One balanced entry of ``post_many``, as ``post`` takes it."""

    kind: str
    legs: Sequence[Leg]
    idempotency_key: str
    ref_type: str | None = None
    ref_id: str | int | None = None
    memo: str = ""
    business_date: date | None = None


def post_many(session: Session, entries: Sequence[NewEntry]) -> list[Posted]:
    """Many balanced entries with a fixed number of statements however many there are (a
    batch of bids, a day's repayments): one lock of every account in id order, one guarded
    UPDATE per user account paying out (for its total over the batch), one update for the
    rest, one batch of entries, one of postings.

    Each key is posted exactly once, as by ``post``; a shortfall on any paying account
    refuses them all with ``insufficient_funds`` and nothing is written.
    """
    if not entries:
        return []
    merged = [_merge_legs(e.legs) for e in entries]
    for e, legs in zip(entries, merged, strict=True):
        if len(legs) < 2 or sum(legs.values()) != 0:
            raise UnbalancedEntry(f"entry {e.idempotency_key!r} does not balance", details={"legs": legs})
    fingerprints = [_fingerprint(e.kind, legs) for e, legs in zip(entries, merged, strict=True)]
    earlier = {
        entry.idempotency_key: entry
        for entry in session.scalars(
            select(JournalEntry).where(JournalEntry.idempotency_key.in_([e.idempotency_key for e in entries]))
        )
    }
    posted: dict[str, Posted] = {
        e.idempotency_key: _replay(earlier[e.idempotency_key], f)
        for e, f in zip(entries, fingerprints, strict=True)
        if e.idempotency_key in earlier
    }
    fresh = [
        (e, legs, f)
        for e, legs, f in zip(entries, merged, fingerprints, strict=True)
        if e.idempotency_key not in posted
    ]
    if fresh:
        accounts = _lock_accounts(session, sorted({code for _, legs, _ in fresh for code in legs}))
        totals: dict[str, int] = {}
        for _, legs, _ in fresh:
            for code, amount in legs.items():
                totals[code] = totals.get(code, 0) + amount
        _apply(session, accounts, {code: amount for code, amount in totals.items() if amount != 0})
        rows = [_entry(e, f) for e, _, f in fresh]
        session.add_all(rows)
        session.flush()
        insert_rows(
            session,
            Posting,
            [
                {"entry_id": row.id, "account_id": accounts[code].id, "amount": amount}
                for row, (_, legs, _) in zip(rows, fresh, strict=True)
                for code, amount in legs.items()
            ],
        )
        _forget_balances(session, accounts.values())
        posted.update({row.idempotency_key: Posted(entry=row, created=True) for row in rows})
    return [posted[e.idempotency_key] for e in entries]


def _entry(e: NewEntry, fingerprint: str) -> JournalEntry:
    return JournalEntry(
        kind=e.kind,
        idempotency_key=e.idempotency_key,
        fingerprint=fingerprint,
        business_date=e.business_date or clock.today(),
        created_at=clock.now(),
        ref_type=e.ref_type,
        ref_id=None if e.ref_id is None else str(e.ref_id),
        memo=e.memo[:200],
        reverses_entry_id=None,
    )


def lock_user_balances(session: Session, user_ids: Sequence[int]) -> dict[int, Balances]:
    """The users' balances, their accounts locked (in id order, as every entry locks them) until
    the transaction ends: what is read here cannot change before the caller posts."""
    rows = session.execute(
        select(LedgerAccount.owner_id, LedgerAccount.kind, LedgerAccount.balance)
        .where(LedgerAccount.owner_type == "user", among(session, LedgerAccount.owner_id, user_ids))
        .order_by(LedgerAccount.id)
        .with_for_update()
    )
    found: dict[int, dict[str, int]] = {}
    for owner, kind, amount in rows:
        if owner is not None:  # user accounts always have an owner; the column is shared
            found.setdefault(owner, {})[kind] = amount
    return {
        owner: Balances(available=kinds.get("available", 0), frozen=kinds.get("frozen", 0))
        for owner, kinds in found.items()
    }


def balance(session: Session, code: str) -> int:
    value = session.scalar(select(LedgerAccount.balance).where(LedgerAccount.code == code))
    if value is None:
        raise UnknownAccount(f"no ledger account {code!r}")
    return value


def user_balances(session: Session, user_id: int) -> Balances:
    rows = dict(
        session.execute(
            select(LedgerAccount.kind, LedgerAccount.balance).where(
                LedgerAccount.owner_type == "user", LedgerAccount.owner_id == user_id
            )
        ).all()
    )
    return Balances(available=rows.get("available", 0), frozen=rows.get("frozen", 0))


def available_balances(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """Each user's available balance, in one read (0 for a user without accounts)."""
    found = dict(
        session.execute(
            select(LedgerAccount.owner_id, LedgerAccount.balance).where(
                LedgerAccount.owner_type == "user",
                LedgerAccount.kind == "available",
                among(session, LedgerAccount.owner_id, user_ids),
            )
        ).all()
    )
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


@dataclass(frozen=True)
class HistoryLine:
    entry_id: int
    business_date: date
    kind: str
    account_kind: str
    amount: int
    memo: str
    ref_type: str | None
    ref_id: str | None


def user_history(
    session: Session, user_id: int, *, limit: int = 50, before_entry_id: int | None = None
) -> list[HistoryLine]:
    """The user's postings, newest first (资金流水)."""
    query = (
        select(
            JournalEntry.id,
            JournalEntry.business_date,
            JournalEntry.kind,
            LedgerAccount.kind,
            Posting.amount,
            JournalEntry.memo,
            JournalEntry.ref_type,
            JournalEntry.ref_id,
        )
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.owner_type == "user", LedgerAccount.owner_id == user_id)
        .order_by(JournalEntry.id.desc(), Posting.id.desc())
        .limit(limit)
    )
    if before_entry_id is not None:
        query = query.where(JournalEntry.id < before_entry_id)
    return [HistoryLine(*row) for row in session.execute(query)]


def balances_as_of(session: Session, day: date) -> dict[str, int]:
    """Every account's balance at the end of ``day``, by code, from the postings."""
    rows = session.execute(
        select(LedgerAccount.code, func.coalesce(func.sum(Posting.amount), 0))
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.business_date <= day)
        .group_by(LedgerAccount.code)
    )
    return {code: int(total) for code, total in rows}


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str


def verify(session: Session) -> list[Violation]:
    """Check every ledger invariant; an empty list means the books are sound."""
    violations: list[Violation] = []
    for entry_id, total, count in session.execute(
        select(JournalEntry.id, func.coalesce(func.sum(Posting.amount), 0), func.count(Posting.id))
        .outerjoin(Posting, Posting.entry_id == JournalEntry.id)
        .group_by(JournalEntry.id)
        .having((func.coalesce(func.sum(Posting.amount), 0) != 0) | (func.count(Posting.id) < 2))
    ):
        violations.append(
            Violation("entry_balances", f"entry {entry_id}", f"postings sum to {total} over {count} legs")
        )
    sums = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    for code, stored, summed in session.execute(
        select(LedgerAccount.code, LedgerAccount.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.balance != func.coalesce(sums.c.total, 0))
    ):
        violations.append(
            Violation("balance_matches_postings", code, f"balance {stored} but postings sum to {summed}")
        )
    for code, value in session.execute(
        select(LedgerAccount.code, LedgerAccount.balance).where(
            LedgerAccount.owner_type == "user", LedgerAccount.balance < 0
        )
    ):
        violations.append(Violation("user_balance_non_negative", code, f"balance {value}"))
    grand_total = session.scalar(select(func.coalesce(func.sum(LedgerAccount.balance), 0)))
    if grand_total != 0:
        violations.append(Violation("accounts_sum_to_zero", "all accounts", f"sum is {grand_total}"))
    return violations


def _merge_legs(legs: Sequence[Leg]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for leg in legs:
        if leg.amount == 0:
            continue
        merged[leg.account] = merged.get(leg.account, 0) + leg.amount
    return {code: amount for code, amount in merged.items() if amount != 0}


def _fingerprint(kind: str, merged: dict[str, int]) -> str:
    payload = json.dumps({"kind": kind, "legs": sorted(merged.items())}, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _entry_by_key(session: Session, key: str) -> JournalEntry | None:
    return session.scalars(select(JournalEntry).where(JournalEntry.idempotency_key == key)).first()


def _replay(existing: JournalEntry, fingerprint: str) -> Posted:
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This idempotency key was already used for a different movement of money.",
            details={"idempotency_key": existing.idempotency_key},
        )
    return Posted(entry=existing, created=False)


@dataclass(frozen=True, slots=True)
class _Account:
    id: int
    code: str
    owner_type: str


def _lock_accounts(session: Session, codes: list[str]) -> dict[str, _Account]:
    """The accounts by code, their rows locked in id order until the transaction ends: every
    entry locks in that order, so concurrent entries never deadlock. Read as plain rows — an
    entry of a repayment names hundreds of accounts, and mapped objects cost far more."""
    accounts = {
        code: _Account(account_id, code, owner_type)
        for account_id, code, owner_type in session.execute(
            select(LedgerAccount.id, LedgerAccount.code, LedgerAccount.owner_type)
            .where(among(session, LedgerAccount.code, codes))
            .order_by(LedgerAccount.id)
            .with_for_update()
        )
    }
    missing = sorted(set(codes) - set(accounts))
    if missing:
        raise UnknownAccount(f"no ledger account {', '.join(missing)}", details={"accounts": missing})
    return accounts


def _forget_balances(session: Session, accounts: Iterable[_Account]) -> None:
    """Expire the balance of any of ``accounts`` loaded in the session: the updates bypass it."""
    for account in accounts:
        loaded = session.identity_map.get(session.identity_key(LedgerAccount, account.id))
        if loaded is not None:
            session.expire(loaded, ["balance"])


def _apply(session: Session, accounts: dict[str, _Account], legs: dict[str, int]) -> None:
    """Move each leg's amount into its account (locked by ``_lock_accounts``): a few
    statements however many legs.

    A user account paying out gets its own conditional UPDATE, whose WHERE clause is the
    overdraft guard that holds under concurrency; every other leg — a repayment's hundreds
    of holders — goes in one set-based update. The CHECK on user balances backs both.
    """
    guarded = {
        code: amount for code, amount in legs.items() if accounts[code].owner_type == "user" and amount < 0
    }
    for code, amount in guarded.items():
        account = accounts[code]
        result = session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.id == account.id, LedgerAccount.balance + amount >= 0)
            .values(balance=LedgerAccount.balance + amount),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InsufficientFunds(
                "Not enough available balance for this operation.",
                details={"account": account.code, "needed": -amount},
            )
    others = [
        {"id": accounts[code].id, "balance": amount} for code, amount in legs.items() if code not in guarded
    ]
    update_rows(session, LedgerAccount, others, increment=True)
