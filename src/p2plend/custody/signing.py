"""HMAC-SHA256 signatures of custodian callbacks: the only proof a callback is the bank's."""

import hashlib
import hmac


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, signature: str, secret: str) -> bool:
    # compare_digest: no timing side channel on how many characters matched.
    return hmac.compare_digest(sign(body, secret), signature.strip().lower())
