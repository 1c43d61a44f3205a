from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.servicing import service as servicing
from tests import lending


def test_smoke(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    borrower = lending.make_borrower(session_factory, bank, balance=100_000)
    a = lending.make_investor(session_factory, bank, balance=500_000)
    b = lending.make_investor(session_factory, bank, balance=300_000)
    c = lending.make_investor(session_factory, bank, balance=200_000)
    loan_id = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(borrower, months=3),
        [(a, 500_000), (b, 300_000), (c, 200_000)],
    )
    with session_factory() as session:
        rows = servicing.schedule(session, loan_id)
        print([(r.due_date, r.principal, r.interest) for r in rows])
    for row in rows:
        lending.go_to(row.due_date)
        with session_factory.begin() as session:
            servicing.repay(session, loan_id, payer_id=borrower, custodian=bank)
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert loan.status == "settled"
        print(ledger.user_balances(session, a), ledger.user_balances(session, borrower))
        report = custody.live_differences(session, bank)
        print(report)
