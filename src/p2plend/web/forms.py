"""Forms: run a business act so a refusal changes nothing, and show refusals next to the field.

``acting(session)`` wraps the act in a savepoint. A refusal rolls the savepoint back, so the
page can render the form again (a 200-ish answer whose transaction commits) without a
half-done act — except a *recorded* refusal (a wrong password, TOTP or SMS code, a
resident ID used elsewhere), whose failure counters and audit lines must survive: those
writes are kept and committed with the request, as the API does.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Form
from sqlalchemy.orm import Session

from p2plend.errors import DomainError, commits_despite
from p2plend.identity.service import RecordedRefusal
from p2plend.web.i18n import Locale, error_message

# A text field of a posted form, as the routes declare their fields.
FormText = Annotated[str, Form()]

# Which form field a refusal is about; codes not listed are shown above the form.
FIELD_OF_CODE: dict[str, str] = {
    "invalid_phone": "phone",
    "phone_taken": "phone",
    "sms_resend_too_soon": "phone",
    "weak_password": "password",
    "invalid_sms_code": "sms_code",
    "sms_code_expired": "sms_code",
    "sms_code_attempts_exceeded": "sms_code",
    "totp_required": "totp_code",
    "totp_invalid": "totp_code",
    "totp_blocked": "totp_code",
    "totp_not_enrolled": "totp_code",
    "invalid_name": "name",
    "invalid_id_number": "id_number",
    "underage": "id_number",
    "id_number_taken": "id_number",
    "invalid_card_number": "card_number",
    "card_taken": "card_number",
    "card_already_bound": "card_number",
    "invalid_bank_name": "bank_name",
    "card_holder_mismatch": "holder_name",
    "card_not_found": "card_id",
    "invalid_amount": "amount",
    "insufficient_funds": "amount",
}


def is_recorded(exc: BaseException) -> bool:
    return isinstance(exc, RecordedRefusal) or commits_despite(exc)


@contextmanager
def acting(session: Session) -> Iterator[None]:
    """Run one business act inside a savepoint (see the module docstring)."""
    savepoint = session.begin_nested()
    try:
        yield
    except BaseException as exc:
        if is_recorded(exc):
            savepoint.commit()
        else:
            savepoint.rollback()
        raise
    else:
        savepoint.commit()


@dataclass
class FormErrors:
    """Translated messages by field, plus one for the whole form."""

    fields: dict[str, str] = field(default_factory=dict)
    form: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields) or self.form is not None

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, message)

    @classmethod
    def of(cls, locale: Locale, exc: DomainError, *, fields: dict[str, str] | None = None) -> "FormErrors":
        """The refusal ``exc`` placed on its field (``fields`` overrides the default mapping)."""
        errors = cls()
        name = (fields or {}).get(exc.code) or FIELD_OF_CODE.get(exc.code)
        if exc.code == "invalid_input" and isinstance(exc.details.get("question"), str):
            name = f"q_{exc.details['question']}"
        message = error_message(locale, exc.code)
        if name is None:
            errors.form = message
        else:
            errors.fields[name] = message
        return errors
