"""Settings from the environment (prefix ``P2PLEND_``) or a ``.env`` file.

Secrets have development defaults so a newcomer's first command just works; outside
development and test those defaults are refused at start-up.
"""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_SECRET = "dev-only-secret-change-me"
_DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS0zMi1ieXRlcy1sb25nISE="  # 32 bytes, base64
_DEV_CUSTODIAN_SECRET = "dev-only-custodian-hmac-secret"

DEFAULT_POSTGRES_TEST_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="P2PLEND_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///p2plend.db"

    # Signs session cookies and CSRF tokens.
    secret_key: str = _DEV_SECRET
    # AES-256-GCM key (base64, 32 bytes) for PII at rest, and the key of the blind index.
    pii_key: str = _DEV_PII_KEY
    # Shared secret of the custodian bank's callback signatures (HMAC-SHA256).
    custodian_hmac_secret: str = _DEV_CUSTODIAN_SECRET

    # Argon2 cost: "standard" in production; tests lower it to stay fast.
    password_hash_profile: Literal["standard", "fast"] = "standard"

    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    session_hours: int = 12
    sms_code_minutes: int = 10
    sms_resend_seconds: int = 60

    withdrawal_fee_fen: int = 200  # [D] 2.00 yuan per withdrawal (DOMAIN.md §4)
    risk_assessment_valid_months: int = 12  # [D]
    # [D] Outstanding lending cap per investor tier (DOMAIN.md §5), in fen; null = no cap.
    # From the environment as JSON: P2PLEND_RISK_TIER_CAPS_FEN='{"C1": 5000000, ...}'.
    risk_tier_caps_fen: dict[str, int | None] = {
        "C1": 5_000_000,
        "C2": 10_000_000,
        "C3": 30_000_000,
        "C4": 100_000_000,
        "C5": None,
    }
    # [D] 分散投资 (docs/portfolio.md): the portfolio page warns when one borrower's share of
    # an investor's outstanding principal is above this (0.20: more than 20 %). DOMAIN.md sets
    # no figure; 20 % is the market's usual "no more than a fifth in one name" rule of thumb.
    portfolio_borrower_share_warning: Decimal = Decimal("0.20")
    deposit_order_valid_minutes: int = 30
    deposit_min_fen: int = 100  # [D] 1.00 yuan per deposit order
    deposit_max_fen: int = 500_000_000  # [D] 5,000,000.00 yuan per deposit order
    # [D] 自动投标 (DOMAIN.md §10): one auto-bid takes at most this share of a listing (floored
    # to the bid step, never below the minimum bid); auto-bids together fill at most this share
    # of it, so manual bidders always get a chance.
    autobid_bid_share: Decimal = Decimal("0.20")
    autobid_listing_share: Decimal = Decimal("0.60")

    # [D] Borrowing caps on principal (DOMAIN.md §5, R4–R6), in fen: on this platform, and
    # including declared debt on other platforms; natural persons and legal persons.
    borrowing_cap_person_fen: int = 20_000_000  # 200,000.00
    borrowing_cap_person_total_fen: int = 100_000_000  # 1,000,000.00
    borrowing_cap_organisation_fen: int = 100_000_000  # 1,000,000.00
    borrowing_cap_organisation_total_fen: int = 500_000_000  # 5,000,000.00
    # [D] Debt transfer (债权转让, DOMAIN.md §9, R38–R39): holding period, blackout before a
    # due date, the largest discount, the seller's fee (none once held longer than the
    # fee-free days) and how long a transfer listing stays open.
    transfer_min_holding_days: int = 30
    transfer_blackout_days: int = 3
    transfer_max_discount: Decimal = Decimal("0.05")
    transfer_fee_rate: Decimal = Decimal("0.005")
    transfer_fee_free_after_days: int = 90
    transfer_listing_days: int = 3
    # Loan applications' supporting documents (PDF, JPEG, PNG) live outside the database.
    documents_dir: Path = Path("var/documents")
    document_max_bytes: int = 10 * 1024 * 1024  # [D] 10 MB

    # When the simulated custodian bank is the custodian (demo, tests, development).
    custodian: Literal["simulated"] = "simulated"
    # The simulated bank's own database; unset: the platform's (PostgreSQL) or a sibling
    # SQLite file (SQLite allows one writer per file).
    custodian_database_url: str | None = None
    # Card numbers the simulated bank refuses to pay out to (JSON list in the environment).
    custodian_failing_cards: list[str] = []
    # The platform's own fee sub-account at the custodian is opened under these.
    platform_legal_name: str = "p2plend 网络借贷信息中介有限公司"
    platform_credit_code: str = "91110105MA01ABCD26"

    log_json: bool = False

    # 日终批处理 inside `p2plend serve` (docs/eod.md): every day at this Beijing time (HH:MM,
    # Asia/Shanghai) each server process closes every business date not yet closed. Tests
    # build the app without it; `P2PLEND_EOD_SCHEDULER_ENABLED=false` leaves the batch to
    # `p2plend eod run` from cron or a job runner.
    eod_scheduler_enabled: bool = True
    eod_schedule: str = "23:30"

    @field_validator("eod_schedule")
    @classmethod
    def _schedule_is_a_time_of_day(cls, value: str) -> str:
        hour, sep, minute = value.strip().partition(":")
        if not (sep and hour.isdigit() and minute.isdigit() and len(minute) == 2 and len(hour) <= 2):
            raise ValueError("eod_schedule is a time of day HH:MM, such as 23:30")
        if not (0 <= int(hour) <= 23 and 0 <= int(minute) <= 59):
            raise ValueError("eod_schedule is a time of day HH:MM between 00:00 and 23:59")
        return f"{int(hour):02d}:{minute}"

    @property
    def eod_schedule_time(self) -> tuple[int, int]:
        """``eod_schedule`` as (hour, minute), Beijing time."""
        hour, _, minute = self.eod_schedule.partition(":")
        return int(hour), int(minute)

    @field_validator("risk_tier_caps_fen")
    @classmethod
    def _every_tier_has_a_cap(cls, caps: dict[str, int | None]) -> dict[str, int | None]:
        if set(caps) != {"C1", "C2", "C3", "C4", "C5"}:
            raise ValueError("risk_tier_caps_fen needs exactly the tiers C1..C5")
        if any(cap is not None and cap < 0 for cap in caps.values()):
            raise ValueError("risk_tier_caps_fen caps must be non-negative fen or null")
        return caps

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            defaults = {
                "P2PLEND_SECRET_KEY": self.secret_key == _DEV_SECRET,
                "P2PLEND_PII_KEY": self.pii_key == _DEV_PII_KEY,
                "P2PLEND_CUSTODIAN_HMAC_SECRET": self.custodian_hmac_secret == _DEV_CUSTODIAN_SECRET,
            }
            unsafe = [name for name, is_default in defaults.items() if is_default]
            if unsafe:
                raise ValueError(f"production refuses development secrets: set {', '.join(unsafe)}")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
