"""Chaos tests: the platform served for real, driven by concurrent clients over HTTP while a
harness breaks things under it, then checked to the fen (``p2plend chaos``, docs/reliability.md)."""
