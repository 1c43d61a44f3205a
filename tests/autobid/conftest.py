"""Auto-bid builders: rules set through the service, and a bulk builder for the queue tests."""

import hashlib
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.autobid.models import AutobidAuthorisation, AutobidRule
from p2plend.identity import records
from p2plend.identity.validation import normalise_phone
from p2plend.suitability import service as suitability
from tests import builders
from tests.custody.conftest import bank
from tests.web.conftest import make_web_user

__all__ = ["bank", "make_web_user"]


def rule_terms(**overrides: object) -> autobid.RuleTerms:
    """A rule taking every listing: any rate, 1–360 months, every grade, method and product,
    1,000.00 per bid, no reserve, no total cap, valid a year."""
    terms = autobid.RuleTerms(
        min_rate=Decimal(0),
        max_rate=Decimal(1),
        min_term_months=1,
        max_term_months=360,
        grades=autobid.GRADES,
        methods=autobid.METHODS,
        product_kinds=autobid.PRODUCT_KINDS,
        amount_mode=autobid.FIXED,
        fixed_amount=100_000,
        balance_share=Decimal(0),
        reserve=0,
        total_cap=None,
        valid_until=clock.today() + timedelta(days=365),
    )
    return replace(terms, **overrides)  # type: ignore[arg-type]


def enable_rule(sessions: sessionmaker[Session], investor: int, **overrides: object) -> autobid.RuleView:
    """Sign the authorisation, save the rule and switch it on, as the investor would."""
    with sessions.begin() as session:
        autobid.sign_authorisation(session, investor)
        autobid.save_rule(session, investor, rule_terms(**overrides), actor_id=investor)
        return autobid.enable(session, investor, actor_id=investor)


def assessed_investors(sessions: sessionmaker[Session], count: int, *, points: int = 90) -> list[int]:
    """Investors with a risk assessment but no custody account and no money (cheap to build)."""
    answers = builders.answers_scoring(points)
    with sessions.begin() as session:
        ids = []
        for _ in range(count):
            user = records.insert_user(
                session, kind="person", e164=normalise_phone(builders.next_phone()), password="x" * 12
            )
            suitability.submit_assessment(session, user.id, answers)
            ids.append(user.id)
        return ids


def bulk_rules(session: Session, rules: list[tuple[int, autobid.RuleTerms]]) -> None:
    """Authorised, enabled rules for many investors at once, queued in the order given (a test
    builder: the same rows ``sign_authorisation`` + ``save_rule`` + ``enable`` write, without
    their audit records)."""
    digest = hashlib.sha256(autobid.AUTHORISATION_TEXT.encode()).hexdigest()
    now = clock.now()
    first = autobid._take_positions(session, len(rules))
    for i, (investor, terms) in enumerate(rules):
        autobid.check_terms(terms)
        signed = AutobidAuthorisation(
            investor_id=investor, version=autobid.AUTHORISATION_VERSION, text_sha256=digest, signed_at=now
        )
        session.add(signed)
        session.flush()
        session.add(
            AutobidRule(
                investor_id=investor,
                enabled=True,
                min_rate=terms.min_rate,
                max_rate=terms.max_rate,
                min_term_months=terms.min_term_months,
                max_term_months=terms.max_term_months,
                grades=autobid.mask_of(terms.grades, autobid.GRADES),
                methods=autobid.mask_of(terms.methods, autobid.METHODS),
                product_kinds=autobid.mask_of(terms.product_kinds, autobid.PRODUCT_KINDS),
                amount_mode=terms.amount_mode,
                fixed_amount=terms.fixed_amount if terms.amount_mode == autobid.FIXED else 0,
                balance_share=terms.balance_share if terms.amount_mode == autobid.SHARE else Decimal(0),
                reserve=terms.reserve,
                total_cap=terms.total_cap,
                valid_until=terms.valid_until,
                queue_position=first + i,
                authorisation_id=signed.id,
                off_reason="",
                enabled_at=now,
                updated_at=now,
            )
        )
    session.flush()
