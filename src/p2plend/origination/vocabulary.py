"""The fixed words of origination: product kinds, purposes, statuses, reason codes.

Every value here is stored in the database and sent over the API; the pages label them
through ``web/i18n.py`` (``origination.<list>.<value>``). Changing a value is a migration.
"""

from p2plend.origination.scoring import EMPLOYMENT_TYPES, HOUSING_TYPES, PURPOSES, Grade

# --- products --------------------------------------------------------------------------------

CREDIT, MORTGAGE, GUARANTEED, INSTITUTION = "credit", "mortgage", "guaranteed", "institution"
PRODUCT_KINDS: tuple[str, ...] = (CREDIT, MORTGAGE, GUARANTEED, INSTITUTION)

GRADES: tuple[str, ...] = tuple(g.value for g in Grade)  # AA, A, B, C, D, E, HR — best first
RISK_CLASSES: tuple[str, ...] = ("R1", "R2", "R3", "R4", "R5")
# [D] DOMAIN.md §5: AA→R1, A→R2, B→R3, C and D→R4, E and HR→R5.
DEFAULT_RISK_CLASS: dict[str, str] = {
    "AA": "R1",
    "A": "R2",
    "B": "R3",
    "C": "R4",
    "D": "R4",
    "E": "R5",
    "HR": "R5",
}

# --- applications ------------------------------------------------------------------------------

ALLOWED_PURPOSES: tuple[str, ...] = (
    "consumption",
    "education",
    "medical",
    "home_improvement",
    "car",
    "business",
    "working_capital",
    "debt_consolidation",
    "other",
)
# R7 / DOMAIN.md §5: loans for these are refused.
FORBIDDEN_PURPOSES: tuple[str, ...] = ("stocks", "margin", "futures", "structured_products", "derivatives")
# Words in the free-text purpose that reveal a forbidden use (R7), matched after NFKC,
# lower-casing and removing whitespace. English phrases are specific on purpose: "stock"
# alone is also a shop's inventory.
FORBIDDEN_PURPOSE_WORDS: tuple[str, ...] = (
    "股票",
    "炒股",
    "股市",
    "证券投资",
    "配资",
    "融资融券",
    "期货",
    "期权",
    "理财产品",
    "结构化产品",
    "衍生品",
    "stockmarket",
    "stocktrading",
    "sharetrading",
    "securitiestrading",
    "margintrading",
    "futures",
    "optionstrading",
    "derivative",
    "structuredproduct",
)
EMPLOYMENTS: tuple[str, ...] = (
    "salaried",
    "civil_servant",
    "self_employed",
    "retired",
    "unemployed",
    "student",
)
HOUSINGS: tuple[str, ...] = ("own", "mortgage", "rent", "family", "other")

ONLINE, OFFLINE, PARTNER = "online", "offline", "partner"
CHANNELS: tuple[str, ...] = (ONLINE, OFFLINE, PARTNER)

COLLATERAL_TYPES: tuple[str, ...] = ("real_estate", "vehicle", "land_use_right", "equipment", "other")
# 抵押状态 of the collateral when the application is made.
LIEN_STATUSES: tuple[str, ...] = ("unencumbered", "encumbered", "registration_pending", "registered")
# The partner institution referring a P2B borrower.
INSTITUTION_TYPES: tuple[str, ...] = ("guarantor", "micro_loan", "factoring_leasing", "licensed_institution")
INSTITUTION_RISK_TIERS: tuple[int, ...] = (1, 2, 3, 4, 5)  # 1 = lowest risk
# An organisation borrower is not scored by the consumer scorecard: the referring
# institution's risk tier gives the starting grade, which the officer confirms or changes.
GRADE_OF_INSTITUTION_TIER: dict[int, str] = {1: "A", 2: "B", 3: "C", 4: "D", 5: "E"}
INSTITUTION_TIER_MODEL = "institution-tier-v1"

DOCUMENT_KINDS: tuple[str, ...] = (
    "id_card",
    "income_proof",
    "bank_statement",
    "employment_proof",
    "property_certificate",
    "business_license",
    "financial_statement",
    "other",
)

# --- statuses ------------------------------------------------------------------------------------

SUBMITTED = "submitted"
UNDER_REVIEW = "under_review"
INFO_REQUESTED = "info_requested"
AWAITING_SECOND_APPROVAL = "awaiting_second_approval"
APPROVED = "approved"
LISTED = "listed"
REJECTED = "rejected"
CANCELLED = "cancelled"
STATUSES: tuple[str, ...] = (
    SUBMITTED,
    UNDER_REVIEW,
    INFO_REQUESTED,
    AWAITING_SECOND_APPROVAL,
    APPROVED,
    LISTED,
    REJECTED,
    CANCELLED,
)
# "Active" for R18 (one per borrower and purpose): not yet decided. A listed application
# has become a loan, whose principal the caps (R4–R6) count instead.
ACTIVE_STATUSES: tuple[str, ...] = (
    SUBMITTED,
    UNDER_REVIEW,
    INFO_REQUESTED,
    AWAITING_SECOND_APPROVAL,
    APPROVED,
)
CANCELLABLE_STATUSES: tuple[str, ...] = (SUBMITTED, UNDER_REVIEW, INFO_REQUESTED, AWAITING_SECOND_APPROVAL)
# Approved by at least one officer, not yet a listing: counted by the caps (R4–R6).
APPROVED_NOT_LISTED: tuple[str, ...] = (AWAITING_SECOND_APPROVAL, APPROVED)

# --- review ---------------------------------------------------------------------------------------

# Stored on an application the automatic rules rejected.
AUTO_REJECTION_CODES: tuple[str, ...] = (
    "related_party",  # R2: the platform itself or a flagged related party
    "blacklisted",
    "age_out_of_range",  # R14: 18 on application, at most the product's age at maturity
    "grade_auto_rejected",  # HR (configurable per product version)
    "grade_amount_cap_exceeded",
    "borrowing_cap_exceeded",  # R4 / R5
    "total_debt_cap_exceeded",  # R6
)
# What a risk officer may give as the reason of a rejection.
REJECTION_REASONS: tuple[str, ...] = (
    "insufficient_income",
    "high_debt_burden",
    "poor_credit_history",
    "incomplete_documents",
    "unverifiable_information",
    "collateral_insufficient",
    "field_verification_failed",
    "fraud_suspected",
    "policy",
    "other",
)
# Reason codes the borrower sees as "not eligible": naming them would tip off a listed person.
CONFIDENTIAL_REASONS: frozenset[str] = frozenset({"blacklisted", "related_party", "fraud_suspected"})

APPROVE, REJECT, REQUEST_INFO = "approve", "reject", "request_info"
SECOND_APPROVE, SECOND_REJECT = "second_approve", "second_reject"
DECISION_ACTIONS: tuple[str, ...] = (APPROVE, REJECT, REQUEST_INFO, SECOND_APPROVE, SECOND_REJECT)

FIELD_VERIFICATION_KINDS: tuple[str, ...] = ("interview", "site_visit")  # 面审, 实地认证
FIELD_VERIFICATION_RESULTS: tuple[str, ...] = ("pass", "fail")

BLACKLIST_KINDS: tuple[str, ...] = ("blacklist", "related_party")

# The scorecard and this module must agree on the application's words.
assert set(ALLOWED_PURPOSES) == PURPOSES, "purposes differ from the scorecard's"
assert set(EMPLOYMENTS) == EMPLOYMENT_TYPES, "employment types differ from the scorecard's"
assert set(HOUSINGS) == HOUSING_TYPES, "housing types differ from the scorecard's"
