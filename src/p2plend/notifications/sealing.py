"""Sealing SMS in the outbox: AES-256-GCM under a key derived from ``settings.pii_key``.

An SMS text may hold a one-time code that the identity domain itself keeps only as a keyed
hash; the outbox must not hand it out in clear to whoever reads the table. HKDF derives a
key for this purpose alone, so it is independent of the keys that protect user PII.
"""

import base64
import json
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from p2plend.config import get_settings

_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12
_CONTEXT = b"notifications.sms"


@lru_cache(maxsize=4)
def _key(pii_key: str) -> bytes:
    master = base64.b64decode(pii_key, validate=True)
    if len(master) != 32:
        raise ValueError("P2PLEND_PII_KEY must decode to 32 bytes (AES-256)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"p2plend/notifications/sms/v1").derive(
        master
    )


def seal_sms(phone: str, text: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps({"phone": phone, "text": text}, ensure_ascii=False).encode()
    return _FORMAT_V1 + nonce + AESGCM(_key(get_settings().pii_key)).encrypt(nonce, plaintext, _CONTEXT)


def open_sms(sealed: bytes) -> tuple[str, str]:
    """``(E.164 phone, text)`` of a sealed SMS."""
    if sealed[:1] != _FORMAT_V1:
        raise ValueError("unknown sealed SMS format")
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    payload = json.loads(AESGCM(_key(get_settings().pii_key)).decrypt(nonce, body, _CONTEXT))
    return str(payload["phone"]), str(payload["text"])
