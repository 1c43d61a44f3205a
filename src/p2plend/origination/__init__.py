"""Origination: products, applications, credit scoring, review, pricing, caps."""
