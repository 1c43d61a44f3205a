"""The books-are-sound check run after every test that touched the database."""

from sqlalchemy.orm import Session

from p2plend.ledger import service as ledger


def assert_books_sound(session: Session) -> None:
    violations = ledger.verify(session)
    assert not violations, "ledger invariants violated:\n" + "\n".join(
        f"  {v.rule}: {v.subject}: {v.detail}" for v in violations
    )
    assert_custody_reconciles(session)


def assert_custody_reconciles(session: Session) -> None:
    """R12, live: every sub-account's balance at the simulated bank equals the ledger's
    (user available + frozen; the platform's fee account), except where an open anomaly
    already tells ops why. Skipped when the test opened no custody account."""
    from p2plend.custody import service as custody

    if not custody.has_custody_accounts(session):
        return
    bank = custody.simulated_custodian(session.get_bind().engine.url.render_as_string(hide_password=False))
    try:
        report = custody.live_differences(session, bank)
    finally:
        bank.close()
    explained = custody.sub_accounts_with_open_anomalies(session)
    unexplained = [d for d in report.differences if d.sub_account_no not in explained]
    assert not unexplained, "custody does not reconcile with the bank:\n" + "\n".join(
        f"  {d.sub_account_no} ({d.owner_type}:{d.owner_id}): platform {d.platform_amount}, "
        f"bank {d.bank_amount}, difference {d.difference}"
        for d in unexplained
    )
