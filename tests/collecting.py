"""Builders for collections (催收) tests: overdue loans whose borrowers spent everything,
borrowers from a chosen region, collectors and other staff, the batch closing dates."""

from sqlalchemy.orm import Session, sessionmaker

from p2plend.collections import service as collections
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.servicing import service as servicing
from tests import builders, lending
from tests.overdue import OverdueLoan


def make_staff(
    session_factory: sessionmaker[Session], *roles: Role, name: str = "王员工", phone: str | None = None
) -> int:
    """A staff member with an authenticator (their permissions need it)."""
    with session_factory.begin() as session:
        user, _ = builders.make_staff(session, roles=roles, name=name, phone=phone)
        return user.id


_NAMES = "甲乙丙丁戊己庚辛壬癸"


def collectors(session_factory: sessionmaker[Session], n: int) -> list[int]:
    """``n`` collectors, named 催收员甲, 催收员乙, … in id order."""
    return [make_staff(session_factory, Role.COLLECTOR, name=f"催收员{_NAMES[i]}") for i in range(n)]


def case_of(session_factory: sessionmaker[Session], loan_id: int) -> collections.CaseSummary | None:
    """The loan's latest case."""
    with session_factory() as session:
        page = collections.cases(session, loan_id=loan_id, limit=1)
        return page.items[0] if page.items else None


def pay_what_is_due(
    session_factory: sessionmaker[Session], bank: SimulatedBank, loan: OverdueLoan, extra: int = 0
) -> int:
    """The borrower deposits what is due now (and ``extra``) and repays it; returns the amount."""
    with session_factory() as session:
        due = servicing.amount_due(session, loan.loan_id).total
    lending.deposit(
        session_factory, bank, loan.borrower, lending.card_of(session_factory, loan.borrower), due + extra
    )
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower)
    return due


def set_strategy(session_factory: sessionmaker[Session], stage: str, **changes: object) -> None:
    """Change some fields of ``stage``'s strategy (as the console)."""
    with session_factory.begin() as session:
        current = collections.strategy_of(session, stage)
        values = {
            "treatment": current.treatment,
            "reminder_sms": current.reminder_sms,
            "reminder_app": current.reminder_app,
            "reminder_every_days": current.reminder_every_days,
            "assignment": current.assignment,
            "team": current.team,
            "contact_every_days": current.contact_every_days,
        }
        values.update(changes)
        collections.update_strategy(
            session,
            actor_id=None,
            stage=stage,
            change=collections.StrategyChange(**values),  # type: ignore[arg-type]
        )
