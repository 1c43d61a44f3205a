"""Money: integer fen everywhere, one rounding rule, one allocation rule.

1 yuan = 100 fen. Amounts are plain ``int`` fen; rates are ``Decimal``. Nothing here
ever touches a float (R19). Rounding is ROUND_HALF_UP to one fen (DOMAIN.md §1).
"""

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field, WithJsonSchema
from sqlalchemy import BigInteger, ColumnElement, String, case, cast, func

from p2plend.errors import DomainError

Fen = int

FEN_PER_YUAN = 100
# Amounts must fit a signed 64-bit BIGINT column.
MAX_FEN = 2**63 - 1

# Digits, an optional point and at most two decimals. No sign, exponent, spaces or
# thousands separators: an amount typed by a person or sent by a client is either
# exactly this or refused.
AMOUNT_PATTERN = r"^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$"
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)

# How amounts travel in the API, as strings of yuan. An answer's always has two decimals
# (negative for a debit). A request's is what ``parse_amount`` takes: the schema documents its
# pattern, for clients and the fuzzer, and ``parse_amount`` enforces it with ``invalid_amount``.
Yuan = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", examples=["1234.56"])]
YuanText = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["1000.00"]})
]


class InvalidAmount(DomainError):
    code = "invalid_amount"
    status = 422


def parse_amount(text: object, *, allow_zero: bool = False) -> Fen:
    """Parse a yuan amount such as ``"1234.56"`` or ``"100"`` into fen.

    Refuses floats, negatives, more than two decimals, exponents, NaN/Infinity and
    values beyond BIGINT, each with a clear message.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise InvalidAmount(
            'Amount must be a string such as "1234.56", not a number.',
            details={"value": repr(text)},
        )
    if not _AMOUNT_RE.fullmatch(text):
        raise InvalidAmount(
            'Amount must be a positive number of yuan with at most two decimals, e.g. "1234.56".',
            details={"value": text},
        )
    whole, _, frac = text.partition(".")
    fen = int(whole) * FEN_PER_YUAN + int((frac + "00")[:2])
    if fen > MAX_FEN:
        raise InvalidAmount("Amount is too large.", details={"value": text})
    if fen == 0 and not allow_zero:
        raise InvalidAmount("Amount must be greater than zero.", details={"value": text})
    return fen


def yuan_str(fen: Fen) -> str:
    """Fen as a plain two-decimal yuan string: 123456 → ``"1234.56"`` (the JSON form)."""
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{frac:02d}"


def yuan_sql(fen: ColumnElement[int]) -> ColumnElement[str]:
    """``yuan_str`` computed by the database, for text written by INSERT … SELECT."""
    magnitude = func.abs(fen, type_=BigInteger)  # typed, so that // divides integers
    whole, frac = magnitude // FEN_PER_YUAN, magnitude % FEN_PER_YUAN
    return (
        case((fen < 0, "-"), else_="")
        + cast(whole, String)
        + "."
        + case((frac < 10, "0"), else_="")
        + cast(frac, String)
    )


def format_cny(fen: Fen) -> str:
    """Display form with the currency sign: 123456 → ``"¥1,234.56"``."""
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}¥{whole:,}.{frac:02d}"


def format_yuan(fen: Fen) -> str:
    """Display form in words' order: 123456 → ``"1,234.56 元"``."""
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{frac:02d} 元"


def round_fen(value: Decimal) -> Fen:
    """ROUND_HALF_UP a Decimal number of fen to a whole fen: DOMAIN.md's ``rd``."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_times_rate(fen: Fen, rate: Decimal) -> Fen:
    """rd(amount × rate): e.g. a fee rate applied to an amount."""
    return round_fen(Decimal(fen) * rate)


def allocate(total: Fen, weights: Sequence[int]) -> list[Fen]:
    """Split ``total`` fen in proportion to ``weights`` by the largest remainder.

    The parts sum to ``total`` exactly and each is within one fen of its exact share
    (R25). Residue fen go to the largest fractional remainders; ties go to the larger
    weight, then to the earlier position — so callers list holders by acquisition time,
    then holding id, as DOMAIN.md §3 asks.
    """
    if total < 0:
        raise ValueError("allocate() splits a non-negative total")
    if not weights or any(w < 0 for w in weights):
        raise ValueError("allocate() needs at least one weight, none negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("allocate() needs a positive weight sum")
    bases = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    residue = total - sum(bases)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], -weights[i], i))
    for i in order[:residue]:
        bases[i] += 1
    return bases
