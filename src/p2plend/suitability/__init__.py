"""Investor suitability (出借人风险承受能力评估): questionnaire → tier C1..C5, expiry, caps (R15, R16)."""
