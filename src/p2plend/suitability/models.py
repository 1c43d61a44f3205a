"""Risk assessments: one row per questionnaire taken, never updated (history kept, R17).

The current assessment is a user's latest row; it is valid through ``valid_until``.
Triggers in migration 0003 refuse UPDATE and DELETE.
"""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class RiskAssessment(Base):
    __tablename__ = "risk_assessments"
    __table_args__ = (
        CheckConstraint("tier IN ('C1', 'C2', 'C3', 'C4', 'C5')", name="tier"),
        CheckConstraint("valid_until >= assessed_on", name="validity"),
        Index("ix_risk_assessments_user_latest", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    questionnaire_version: Mapped[str] = mapped_column(String(16))
    # The chosen option per question, as canonical JSON: what the score was computed from.
    answers: Mapped[str] = mapped_column(Text)
    score: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(2))
    assessed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    assessed_on: Mapped[date] = mapped_column(Date)  # business date
    valid_until: Mapped[date] = mapped_column(Date)  # last business date it counts
