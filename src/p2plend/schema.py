"""Every domain's tables, imported so ``Base.metadata`` is the whole schema (Alembic, tests)."""

from p2plend.db import Base
from p2plend.ledger import models as ledger_models

__all__ = ["Base", "ledger_models"]
