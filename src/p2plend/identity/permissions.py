"""Roles and what each may do.

A permission is ``area:action`` for a customer acting on their own things (``funds:self``)
and ``staff:area:action`` for staff. Staff permissions are granted only once the staff
member has a confirmed TOTP authenticator (``AuthContext.needs_2fa_enrollment``).

Adding a permission: name it here, give it to the roles that need it, and check it with
``require_permission`` (service) or ``deps.require`` (API).
"""

from enum import StrEnum

from p2plend.identity.errors import UnknownRole


class Role(StrEnum):
    INVESTOR = "investor"
    BORROWER = "borrower"
    GUARANTOR = "guarantor"
    PARTNER_INSTITUTION = "partner_institution"
    ADMIN = "admin"
    RISK_OFFICER = "risk_officer"
    COLLECTOR = "collector"
    CUSTOMER_SERVICE = "customer_service"
    OPERATIONS = "operations"
    FINANCE = "finance"
    COMPLIANCE = "compliance"


STAFF_ROLES: frozenset[Role] = frozenset(
    {
        Role.ADMIN,
        Role.RISK_OFFICER,
        Role.COLLECTOR,
        Role.CUSTOMER_SERVICE,
        Role.OPERATIONS,
        Role.FINANCE,
        Role.COMPLIANCE,
    }
)
# What a person may take on by themselves (a new user is an investor; applying for a loan
# makes them a borrower). Every other role is given by an administrator.
SELF_SERVICE_ROLES: frozenset[Role] = frozenset({Role.INVESTOR, Role.BORROWER})
# Roles an organisation (企业用户) can hold.
ORGANISATION_ROLES: frozenset[Role] = frozenset(
    {Role.PARTNER_INSTITUTION, Role.GUARANTOR, Role.BORROWER, Role.INVESTOR}
)


class Permission(StrEnum):
    # A customer's own account and money.
    ACCOUNT_SELF = "account:self"
    FUNDS_SELF = "funds:self"
    INVEST_SELF = "invest:self"
    BORROW_SELF = "borrow:self"
    GUARANTEE_SELF = "guarantee:self"
    PARTNER_SELF = "partner:self"
    # Staff.
    STAFF_USERS_READ = "staff:users:read"
    STAFF_USERS_MANAGE = "staff:users:manage"
    STAFF_PII_READ = "staff:pii:read"  # unmasked personal data, need-to-know only (R47)
    STAFF_AUDIT_READ = "staff:audit:read"
    STAFF_CUSTODY_RECONCILE = "staff:custody:reconcile"
    STAFF_LEDGER_READ = "staff:ledger:read"
    STAFF_REPORTS_READ = "staff:reports:read"
    STAFF_APPLICATIONS_REVIEW = "staff:applications:review"
    STAFF_RISK_MANAGE = "staff:risk:manage"
    STAFF_COLLECTIONS_MANAGE = "staff:collections:manage"
    STAFF_COMPLAINTS_MANAGE = "staff:complaints:manage"
    STAFF_OPERATIONS_MANAGE = "staff:operations:manage"
    STAFF_DISCLOSURE_MANAGE = "staff:disclosure:manage"
    STAFF_AML_REVIEW = "staff:aml:review"
    STAFF_WRITE_OFF_APPROVE = "staff:write_off:approve"
    # Opening and switching the platform risk reserve (风险备付金), which the compliance report flags.
    STAFF_RISK_RESERVE_MANAGE = "staff:risk_reserve:manage"

    @property
    def is_staff(self) -> bool:
        return self.value.startswith("staff:")


P = Permission
_CUSTOMER_BASE = frozenset({P.ACCOUNT_SELF, P.FUNDS_SELF})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.INVESTOR: _CUSTOMER_BASE | {P.INVEST_SELF},
    Role.BORROWER: _CUSTOMER_BASE | {P.BORROW_SELF},
    Role.GUARANTOR: _CUSTOMER_BASE | {P.GUARANTEE_SELF},
    Role.PARTNER_INSTITUTION: _CUSTOMER_BASE | {P.PARTNER_SELF},
    Role.CUSTOMER_SERVICE: frozenset({P.ACCOUNT_SELF, P.STAFF_USERS_READ, P.STAFF_COMPLAINTS_MANAGE}),
    Role.RISK_OFFICER: frozenset(
        {
            P.ACCOUNT_SELF,
            P.STAFF_USERS_READ,
            P.STAFF_APPLICATIONS_REVIEW,
            P.STAFF_RISK_MANAGE,
            P.STAFF_PII_READ,
        }
    ),
    Role.COLLECTOR: frozenset(
        {P.ACCOUNT_SELF, P.STAFF_USERS_READ, P.STAFF_COLLECTIONS_MANAGE, P.STAFF_PII_READ}
    ),
    Role.OPERATIONS: frozenset(
        {P.ACCOUNT_SELF, P.STAFF_USERS_READ, P.STAFF_OPERATIONS_MANAGE, P.STAFF_REPORTS_READ}
    ),
    Role.FINANCE: frozenset(
        {
            P.ACCOUNT_SELF,
            P.STAFF_CUSTODY_RECONCILE,
            P.STAFF_LEDGER_READ,
            P.STAFF_REPORTS_READ,
            P.STAFF_WRITE_OFF_APPROVE,
        }
    ),
    Role.COMPLIANCE: frozenset(
        {
            P.ACCOUNT_SELF,
            P.STAFF_USERS_READ,
            P.STAFF_AUDIT_READ,
            P.STAFF_REPORTS_READ,
            P.STAFF_DISCLOSURE_MANAGE,
            P.STAFF_AML_REVIEW,
            P.STAFF_PII_READ,
        }
    ),
    # The administrator manages users and roles and can read everything; money-side acts
    # (reconciliation, write-off approval) stay with finance, so no single role does both.
    Role.ADMIN: frozenset(
        {
            P.ACCOUNT_SELF,
            P.STAFF_USERS_READ,
            P.STAFF_USERS_MANAGE,
            P.STAFF_AUDIT_READ,
            P.STAFF_LEDGER_READ,
            P.STAFF_REPORTS_READ,
            P.STAFF_RISK_RESERVE_MANAGE,
        }
    ),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise UnknownRole(f"There is no role {value!r}.", details={"role": value}) from None


def is_staff(roles: frozenset[str] | set[str]) -> bool:
    return any(role in STAFF_ROLES for role in roles)


def permissions_for(roles: frozenset[str], *, totp_enabled: bool) -> frozenset[str]:
    """The permissions ``roles`` grant; staff permissions only with a confirmed TOTP."""
    granted: set[str] = set()
    for role in roles:
        granted.update(ROLE_PERMISSIONS.get(Role(role), frozenset()))
    if not totp_enabled:
        granted = {permission for permission in granted if not permission.startswith("staff:")}
    return frozenset(granted)
