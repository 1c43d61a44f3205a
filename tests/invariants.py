"""The books-are-sound check run after every test that touched the database."""

from sqlalchemy.orm import Session

from p2plend.ledger import service as ledger


def assert_books_sound(session: Session) -> None:
    violations = ledger.verify(session)
    assert not violations, "ledger invariants violated:\n" + "\n".join(
        f"  {v.rule}: {v.subject}: {v.detail}" for v in violations
    )
