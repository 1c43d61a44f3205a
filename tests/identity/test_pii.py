"""PII at rest (AES-256-GCM, blind index) and masking exactly as DOMAIN.md §11 (R47)."""

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from p2plend.identity import pii


def test_encryption_round_trips_and_is_randomised() -> None:
    first = pii.encrypt("+8613812345678", context="users.phone")
    second = pii.encrypt("+8613812345678", context="users.phone")
    assert first != second  # a fresh nonce each time: equal values do not look equal
    assert b"13812345678" not in first
    assert pii.decrypt(first, context="users.phone") == "+8613812345678"


def test_ciphertext_is_bound_to_its_column() -> None:
    stored = pii.encrypt("110105199001011232", context="real_name_identities.id_number")
    with pytest.raises(InvalidTag):
        pii.decrypt(stored, context="users.phone")


def test_blind_index_is_deterministic_keyed_and_per_context() -> None:
    a = pii.blind_index("+8613812345678", context="users.phone")
    assert a == pii.blind_index("+8613812345678", context="users.phone")
    assert a != pii.blind_index("+8613812345679", context="users.phone")
    assert a != pii.blind_index("+8613812345678", context="bank_cards.card_number")
    assert len(a) == 64 and "13812345678" not in a


def test_masks_match_domain_examples() -> None:
    assert pii.mask_name("张三丰") == "张**"
    assert pii.mask_name("张三") == "张*"
    assert pii.mask_id_number("110105199001011234") == "110***********1234"
    assert pii.mask_phone("+8613812345678") == "138****5678"
    assert pii.mask_phone("13812345678") == "138****5678"
    assert pii.mask_card("6222021234567893446") == "6222 **** **** 3446"
    assert pii.mask_card("6222 0212 3456 3446") == "6222 **** **** 3446"


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=30))
def test_masked_name_keeps_first_character_and_length(name: str) -> None:
    masked = pii.mask_name(name)
    assert masked[0] == name[0]
    assert len(masked) == len(name)
    assert set(masked[1:]) <= {"*"}


@given(st.from_regex(r"\A[0-9]{17}[0-9X]\Z"))
def test_masked_id_number_shows_only_first_three_and_last_four(number: str) -> None:
    masked = pii.mask_id_number(number)
    assert masked == number[:3] + "*" * 11 + number[-4:]


@given(st.from_regex(r"\A1[3-9][0-9]{9}\Z"))
def test_masked_phone_shows_only_first_three_and_last_four(national: str) -> None:
    assert pii.mask_phone("+86" + national) == national[:3] + "****" + national[-4:]


@given(st.from_regex(r"\A[0-9]{16,19}\Z"))
def test_masked_card_hides_length_and_middle(number: str) -> None:
    masked = pii.mask_card(number)
    assert masked == f"{number[:4]} **** **** {number[-4:]}"
    assert len(masked) == 19
