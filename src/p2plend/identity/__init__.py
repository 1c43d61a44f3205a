"""Identity: users, sign-in and sessions, SMS codes, TOTP 2FA, roles and permissions,
PII encryption and masking, real-name verification (实名认证) and bank cards (绑卡).

Other domains and the interfaces use ``identity.service`` only. Inside the domain:
``accounts`` (registration, staff, roles, profiles), ``auth`` (sign-in, sessions,
permission checks), ``totp``, ``sms``, ``kyc``, ``cards``; ``validation`` and ``pii`` are
pure helpers, ``records`` the shared row access, ``events`` the audit trail.
"""
