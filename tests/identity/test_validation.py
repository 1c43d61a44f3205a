"""What people type: phones, passwords, names, resident IDs (R49), USCC, cards (R50)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2plend.errors import DomainError
from p2plend.identity import validation as v
from tests.builders import valid_card_number, valid_id_number


def code_of(excinfo: pytest.ExceptionInfo[DomainError]) -> str:
    return excinfo.value.code


@pytest.mark.parametrize("raw", ["13812345678", "+86 138 1234 5678", "138-1234-5678", "008613812345678"])
def test_phone_is_stored_in_e164(raw: str) -> None:
    assert v.normalise_phone(raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["", "hello", "1381234567", "23812345678", "+14155550123", "01012345678"])
def test_phone_that_cannot_receive_a_mainland_sms_is_refused(raw: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        v.normalise_phone(raw)
    assert code_of(excinfo) == "invalid_phone"


@pytest.mark.parametrize("password", ["abc12345", "Passw0rd!", "a1" * 4])
def test_password_with_letters_and_digits_of_eight_or_more_is_accepted(password: str) -> None:
    v.check_password_policy(password)


@pytest.mark.parametrize("password", ["abc1234", "abcdefgh", "12345678", "密码密码密码密码1", "a1" * 65])
def test_weak_password_is_refused(password: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        v.check_password_policy(password)
    assert code_of(excinfo) == "weak_password"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("张三", "张三"),
        (" 欧阳 娜娜 ".replace(" ", ""), "欧阳娜娜"),
        ("买买提·艾力", "买买提·艾力"),
        ("买买提•艾力", "买买提·艾力"),
        ("John  Smith", "John Smith"),
        ("Ｊｏｈｎ Smith", "John Smith"),
    ],
)
def test_person_names_are_normalised(raw: str, stored: str) -> None:
    assert v.normalise_person_name(raw) == stored


@pytest.mark.parametrize(
    "raw", ["张", "张3", "·张三", "张三·", "张··三", "John3", "张三 Smith", "J", "王" * 31, ""]
)
def test_bad_person_names_are_refused(raw: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        v.normalise_person_name(raw)
    assert code_of(excinfo) == "invalid_name"


def test_resident_id_gives_its_birth_date() -> None:
    number = valid_id_number(region="110105", birth=date(1990, 5, 17), seq="123")
    parsed = v.parse_resident_id(number.lower())
    assert parsed.number == number
    assert parsed.birth_date == date(1990, 5, 17)


def test_resident_id_with_wrong_check_character_is_refused_r49() -> None:
    number = valid_id_number()
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(DomainError) as excinfo:
        v.parse_resident_id(wrong)
    assert code_of(excinfo) == "invalid_id_number"


def test_resident_id_with_unknown_region_is_refused_r49() -> None:
    with pytest.raises(DomainError) as excinfo:
        v.parse_resident_id(valid_id_number(region="999999"))
    assert code_of(excinfo) == "invalid_id_number"


def test_resident_id_with_impossible_birth_date_is_refused_r49() -> None:
    body = "11010519900230123"  # 30 February
    with pytest.raises(DomainError):
        v.parse_resident_id(body + "0")
    from stdnum.cn import ric

    with pytest.raises(DomainError) as excinfo:
        v.parse_resident_id(body + ric.calc_check_digit(body + "0"))
    assert code_of(excinfo) == "invalid_id_number"


@pytest.mark.parametrize("raw", ["", "11010519900101123", "1101051990010112345", "11010519900101123Y"])
def test_resident_id_of_wrong_shape_is_refused(raw: str) -> None:
    with pytest.raises(DomainError):
        v.parse_resident_id(raw)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(2008, 11, 28), date(2026, 11, 28), 18),
        (date(2008, 11, 29), date(2026, 11, 28), 17),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
    ],
)
def test_age_counts_completed_years(birth: date, day: date, age: int) -> None:
    assert v.age_on(birth, day) == age


def test_under_18_is_refused_r14() -> None:
    with pytest.raises(DomainError) as excinfo:
        v.check_adult(date(2008, 11, 29), date(2026, 11, 28))
    assert code_of(excinfo) == "underage"
    v.check_adult(date(2008, 11, 28), date(2026, 11, 28))


def test_uscc_is_validated_with_its_check_character() -> None:
    assert v.normalise_uscc("91110000600037341L") == "91110000600037341L"
    with pytest.raises(DomainError) as excinfo:
        v.normalise_uscc("91110000600037341M")
    assert code_of(excinfo) == "invalid_id_number"


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_card_of_16_to_19_digits_with_luhn_is_accepted_r50(length: int) -> None:
    number = valid_card_number(prefix="6222", length=length)
    assert v.normalise_card_number(number) == number
    spaced = " ".join(number[i : i + 4] for i in range(0, length, 4))
    assert v.normalise_card_number(spaced) == number


def test_card_with_bad_luhn_digit_is_refused_r50() -> None:
    number = valid_card_number()
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(DomainError) as excinfo:
        v.normalise_card_number(wrong)
    assert code_of(excinfo) == "invalid_card_number"


@pytest.mark.parametrize(
    "raw",
    ["4111111111111", "41111111111111111111", "6222-0212-3456-7890", "６２２２０２１２３４５６７８９０"],
)
def test_card_of_wrong_shape_is_refused_r50(raw: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        v.normalise_card_number(raw)
    assert code_of(excinfo) == "invalid_card_number"


@given(
    birth=st.dates(min_value=date(1930, 1, 1), max_value=date(2008, 11, 28)),
    seq=st.integers(min_value=0, max_value=999),
)
def test_any_well_formed_resident_id_gives_back_its_birth_date(birth: date, seq: int) -> None:
    number = valid_id_number(region="110105", birth=birth, seq=f"{seq:03d}")
    parsed = v.parse_resident_id(number)
    assert parsed.birth_date == birth
    v.check_adult(parsed.birth_date, date(2026, 11, 28))
