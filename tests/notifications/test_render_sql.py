"""Messages written by the database (``notify_selected``) read exactly as those rendered in
Python (``notify_users``): every template, both languages, any parameter text."""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, String, literal, select, union_all
from sqlalchemy.orm import Session

from p2plend.money import MAX_FEN, yuan_sql, yuan_str
from p2plend.notifications import service as notifications
from p2plend.notifications.templates import TEMPLATES, render, render_sql
from tests.builders import make_user

# Text a parameter may carry: quotes, braces and percent signs must come out as they went in.
AWKWARD = "O'Brien 的“周转”{贷} 100% \\ ;"

fen = st.integers(min_value=-MAX_FEN, max_value=MAX_FEN)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(amounts=st.lists(fen, min_size=1, max_size=20))
@example(amounts=[0, 1, 9, 10, 99, 100, 101, -1, -100, -105, MAX_FEN, -MAX_FEN])
def test_the_database_writes_yuan_as_yuan_str(session: Session, amounts: list[int]) -> None:
    rows = union_all(*(select(literal(n, BigInteger).label("n")) for n in amounts)).subquery()
    written = session.execute(select(rows.c.n, yuan_sql(rows.c.n))).all()
    assert sorted(written) == sorted((n, yuan_str(n)) for n in amounts)


def test_every_template_renders_alike_in_the_database(session: Session) -> None:
    for key, template in TEMPLATES.items():
        params = {name: f"{AWKWARD}{n}" for n, name in enumerate(template.params)}
        for locale in ("zh", "en"):
            title, body = render_sql(key, literal(locale, String), {k: literal(v) for k, v in params.items()})
            expected = render(key, locale, params)
            assert session.execute(select(title, body)).one() == (expected.title, expected.body), (
                key,
                locale,
            )


def test_messages_written_by_the_database_equal_those_written_one_by_one(session: Session) -> None:
    users = [make_user(session).id for _ in range(3)]
    locales = dict(zip(users, ("zh", "en", "zh"), strict=True))
    params = {
        u: {
            "loan": f"{AWKWARD}{u}",
            "amount": yuan_str(u * 101),
            "principal": "1.00",
            "interest": "0.01",
            "penalty": "0.00",
        }
        for u in users
    }
    recipients = union_all(
        *(
            select(
                literal(u, BigInteger).label("user_id"),
                literal(locales[u], String).label("locale"),
                *(literal(v, String).label(k) for k, v in params[u].items()),
            )
            for u in users
        )
    ).subquery()
    assert notifications.notify_selected(session, "repayment_received", recipients) == len(users)
    for u in users:
        notifications.notify_user(
            session, user_id=u, template="repayment_received", params=params[u], locale=locales[u]
        )
    for u in users:
        by_python, by_database = notifications.inbox(session, u)  # newest first
        assert _read(by_database) == _read(by_python)
        assert (by_database.title, by_database.body) == (
            render("repayment_received", locales[u], params[u]).title,
            render("repayment_received", locales[u], params[u]).body,
        )


def _read(message: notifications.Notification) -> tuple[object, ...]:
    """What a reader of the message sees and the outbox keeps (not its id)."""
    return (
        message.channel,
        message.user_id,
        message.template,
        message.locale,
        message.title,
        message.body,
        message.status,
        message.created_at,
        message.sent_at,
        message.read_at,
    )
