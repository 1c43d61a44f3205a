"""The identity domain's business acts: the only module other domains and the API import.

Acts take the ``Session`` first and only flush. Refusals that leave a trace (a wrong
password, TOTP or SMS code; a resident ID used by another account) raise a
:class:`~p2plend.identity.errors.RecordedRefusal` (``keep_bookkeeping``): the transaction
owner commits, then answers — otherwise the failure counters that drive lock-outs would be rolled back.

Personal data leaves the domain masked, except through ``verified_identity`` and
``bound_card``, which the custodian port needs in clear.
"""

from p2plend.identity.accounts import (
    Profile,
    UserPage,
    UserStatus,
    add_role,
    change_password,
    create_partner,
    create_platform_account,
    create_staff,
    list_users,
    locale_of,
    locales_of,
    phone_of,
    profile,
    register,
    remove_role,
    reset_password,
    send_password_reset_code,
    send_registration_code,
    set_locale,
    set_user_status,
    user_id_by_phone,
    user_kind,
)
from p2plend.identity.auth import (
    AuthContext,
    Client,
    LoginResult,
    authenticate,
    login,
    logout,
    require_permission,
    revoke_all_sessions,
)
from p2plend.identity.cards import BoundCard, CardView, bind_card, bound_card, list_cards, unbind_card
from p2plend.identity.errors import RecordedRefusal
from p2plend.identity.kyc import (
    DocumentIndex,
    RealNameSummary,
    VerifiedIdentity,
    document_index,
    document_index_of,
    region_codes,
    verified_among,
    verified_identity,
    verify_real_name,
)
from p2plend.identity.models import User
from p2plend.identity.permissions import Permission, Role
from p2plend.identity.pii import mask_id_number, mask_name
from p2plend.identity.records import require_actor
from p2plend.identity.sms import SmsCodeSent
from p2plend.identity.totp import (
    TotpEnrollment,
    begin_totp_enrollment,
    confirm_totp_enrollment,
    reset_totp,
    verify_totp,
)
from p2plend.identity.validation import age_on

__all__ = [
    "AuthContext",
    "BoundCard",
    "CardView",
    "Client",
    "DocumentIndex",
    "LoginResult",
    "Permission",
    "Profile",
    "RealNameSummary",
    "RecordedRefusal",
    "Role",
    "SmsCodeSent",
    "TotpEnrollment",
    "User",
    "UserPage",
    "UserStatus",
    "VerifiedIdentity",
    "add_role",
    "age_on",
    "authenticate",
    "begin_totp_enrollment",
    "bind_card",
    "bound_card",
    "change_password",
    "confirm_totp_enrollment",
    "create_partner",
    "create_platform_account",
    "create_staff",
    "document_index",
    "document_index_of",
    "list_cards",
    "list_users",
    "locale_of",
    "locales_of",
    "login",
    "logout",
    "mask_id_number",
    "mask_name",
    "phone_of",
    "profile",
    "region_codes",
    "register",
    "remove_role",
    "require_actor",
    "require_permission",
    "reset_password",
    "reset_totp",
    "revoke_all_sessions",
    "send_password_reset_code",
    "send_registration_code",
    "set_locale",
    "set_user_status",
    "unbind_card",
    "user_id_by_phone",
    "user_kind",
    "verified_among",
    "verified_identity",
    "verify_real_name",
    "verify_totp",
]
