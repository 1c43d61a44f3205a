"""The simulated bank on the test's database (the custody tests' fixture)."""

from tests.custody.conftest import bank

__all__ = ["bank"]
