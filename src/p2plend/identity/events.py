"""Security events and staff acts of the identity domain, written to the audit log (R17).

Details never carry personal data in clear: masked values only.
"""

from sqlalchemy.orm import Session

from p2plend.audit import service as audit


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None,
    object_id: int | None,
    object_type: str = "user",
    **details: object,
) -> None:
    audit.record(
        session,
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details,
    )
