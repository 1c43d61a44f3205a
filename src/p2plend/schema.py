"""Every domain's tables, imported so ``Base.metadata`` is the whole schema (Alembic, tests)."""

from p2plend.audit import models as audit_models
from p2plend.autobid import models as autobid_models
from p2plend.collections import models as collections_models
from p2plend.custody import models as custody_models
from p2plend.custody.simulated import models as custodian_bank_models
from p2plend.db import Base
from p2plend.guarantee import models as guarantee_models
from p2plend.idempotency import models as idempotency_models
from p2plend.identity import models as identity_models
from p2plend.jobs import models as jobs_models
from p2plend.ledger import models as ledger_models
from p2plend.marketplace import models as marketplace_models
from p2plend.marketplace import transfer_listings as transfer_models
from p2plend.notifications import models as notifications_models
from p2plend.origination import models as origination_models
from p2plend.p2b import models as p2b_models
from p2plend.portfolio import models as portfolio_models
from p2plend.servicing import models as servicing_models
from p2plend.suitability import models as suitability_models
from p2plend.workcalendar import models as workcalendar_models

__all__ = [
    "Base",
    "audit_models",
    "autobid_models",
    "collections_models",
    "custodian_bank_models",
    "custody_models",
    "guarantee_models",
    "idempotency_models",
    "identity_models",
    "jobs_models",
    "ledger_models",
    "marketplace_models",
    "notifications_models",
    "origination_models",
    "p2b_models",
    "portfolio_models",
    "servicing_models",
    "suitability_models",
    "transfer_models",
    "workcalendar_models",
]
