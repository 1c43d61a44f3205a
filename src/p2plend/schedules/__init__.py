"""Repayment math (DOMAIN.md §2): pure functions of fen, Decimal rates and dates; no database."""
