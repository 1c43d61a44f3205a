"""Working-day overrides: the days whose status differs from the Monday–Friday rule.

A day with a row is a working day iff ``is_workday``; a day without one is a working day
iff it is Monday to Friday. Rows seeded from chinesecalendar (migration 0006) have
``source = 'library'``; rows staff set or change have ``source = 'staff'``.
"""

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, UtcDateTime


class WorkingDayOverride(Base):
    __tablename__ = "working_day_overrides"
    __table_args__ = (CheckConstraint("source IN ('library', 'staff')", name="source"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(64))  # "National Day", "调休上班", or what staff typed
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
