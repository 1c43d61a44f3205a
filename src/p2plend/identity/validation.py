"""Checking and normalising what people type: phone, password, names, ID numbers, cards.

Pure functions: each returns the normalised value (what we store and index) or raises the
identity error with the stable code the user interface translates.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import phonenumbers
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from p2plend.identity.errors import (
    InvalidBankName,
    InvalidCardNumber,
    InvalidIdNumber,
    InvalidName,
    InvalidPhone,
    Underage,
    WeakPassword,
)

ADULT_AGE = 18  # DOMAIN.md §5, R14, R49
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128  # argon2 would take more; a limit keeps hashing cost bounded
NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 30
ORGANISATION_NAME_MAX_LENGTH = 100
CARD_MIN_DIGITS = 16
CARD_MAX_DIGITS = 19

# 汉字 (basic block, extension A, extensions B–F for rare characters in names) and the
# middle dot that separates the parts of transliterated and minority names (买买提·艾力).
_CHINESE_NAME = re.compile(
    r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+(·[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+)*$"
)
_LATIN_NAME = re.compile(r"^[A-Za-z]+( [A-Za-z]+)*$")
# The dots people actually type for 间隔号; stored as U+00B7.
_NAME_DOTS = str.maketrans({"•": "·", "‧": "·", "・": "·", "･": "·", "．": "·", ".": "·"})
_SMS_PHONE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalise_phone(raw: str) -> str:
    """A mainland China mobile number (we send SMS codes to it) in E.164: ``+8613812345678``."""
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("This is not a phone number.") from exc
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        raise InvalidPhone("Give a valid mainland China mobile number.")
    if phonenumbers.number_type(number) not in _SMS_PHONE_TYPES:
        raise InvalidPhone("Give a mobile number: the verification code is sent by SMS.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_password_policy(password: str) -> None:
    """At least 8 characters with at least one letter and one digit."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPassword(f"The password needs at least {PASSWORD_MIN_LENGTH} characters.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPassword(f"The password may have at most {PASSWORD_MAX_LENGTH} characters.")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[0-9]", password):
        raise WeakPassword("The password needs both letters and digits.")


def normalise_person_name(raw: str) -> str:
    """A legal name: 2–30 Chinese characters (with · between parts), or Latin letters and spaces.

    Full-width letters become ASCII (NFKC) and runs of spaces one space.
    """
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if _CHINESE_NAME.match(name.translate(_NAME_DOTS)):
        name = name.translate(_NAME_DOTS)
    elif not _LATIN_NAME.match(name):
        raise InvalidName("A name is Chinese characters (parts joined by ·) or Latin letters and spaces.")
    if not NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH:
        raise InvalidName(f"A name has {NAME_MIN_LENGTH} to {NAME_MAX_LENGTH} characters.")
    return name


def normalise_organisation_name(raw: str) -> str:
    """A registered organisation name: 2–100 printable characters; full-width forms folded (NFKC)."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not NAME_MIN_LENGTH <= len(name) <= ORGANISATION_NAME_MAX_LENGTH:
        raise InvalidName(
            f"An organisation name has {NAME_MIN_LENGTH} to {ORGANISATION_NAME_MAX_LENGTH} characters."
        )
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidName("An organisation name may not contain control characters.")
    return name


def same_person_name(a: str, b: str) -> bool:
    """Names as a bank prints them: Latin names compare case-insensitively."""
    return a.casefold() == b.casefold()


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str
    birth_date: date


def parse_resident_id(raw: str) -> ResidentId:
    """居民身份证号码 (GB 11643): check character, real birth date, known region code (R49)."""
    try:
        number = ric.validate(raw)
    except ValidationError as exc:
        raise InvalidIdNumber(
            "This resident ID number is not valid (check character, birth date or region code)."
        ) from exc
    return ResidentId(number=number, birth_date=ric.get_birth_date(number))


def age_on(birth_date: date, day: date) -> int:
    """Completed years on ``day`` (someone born on 29 February turns a year older on 1 March)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def check_adult(birth_date: date, today: date) -> None:
    """Lenders and borrowers are at least 18 on the business date (R14, R49)."""
    if age_on(birth_date, today) < ADULT_AGE:
        raise Underage(
            "Only people aged 18 or over can use the platform.", details={"minimum_age": ADULT_AGE}
        )


def normalise_uscc(raw: str) -> str:
    """统一社会信用代码 of an organisation, with its check character."""
    try:
        code: str = uscc.validate(raw)
    except ValidationError as exc:
        raise InvalidIdNumber("This unified social credit code is not valid.") from exc
    return code


def normalise_card_number(raw: str) -> str:
    """A debit card number: 16–19 digits (spaces between groups allowed) with a valid Luhn digit (R50)."""
    digits = raw.replace(" ", "")
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidCardNumber("A card number has digits only.")
    if not CARD_MIN_DIGITS <= len(digits) <= CARD_MAX_DIGITS:
        raise InvalidCardNumber(f"A card number has {CARD_MIN_DIGITS} to {CARD_MAX_DIGITS} digits.")
    if not luhn.is_valid(digits):
        raise InvalidCardNumber("This card number is mistyped: its check digit is wrong.")
    return digits


def normalise_bank_name(raw: str) -> str:
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not 2 <= len(name) <= 64:
        raise InvalidBankName("A bank name has 2 to 64 characters.")
    return name
