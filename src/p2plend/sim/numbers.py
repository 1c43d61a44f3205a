"""Numbers for made-up people and companies (demo, benchmarks): the check character a real
resident ID and a real bank card carry, so the platform's own checks accept them."""

from stdnum import luhn
from stdnum.cn import ric


def resident_id(body: str) -> str:
    """The 17 digits of ``body`` with their ID check character (0–9 or X)."""
    return body + ric.calc_check_digit(body + "0")  # it reads all but the last character


def card_number(body: str) -> str:
    """``body`` with its Luhn check digit."""
    return body + luhn.calc_check_digit(body)
