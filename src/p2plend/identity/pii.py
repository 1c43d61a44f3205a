"""Personal data at rest and on screen: AES-256-GCM encryption, blind indexes, masking.

Encryption: ``settings.pii_key`` (base64, 32 bytes) is the master key; HKDF derives one key
for AES-256-GCM and another for the HMAC-SHA256 blind index, so neither use weakens the
other. Every ciphertext is bound to its *context* (e.g. ``"users.phone"``) as associated
data: a value copied into another column does not decrypt.

Masking follows DOMAIN.md §11 exactly (R47): name ``张**``, resident ID
``110***********1234``, phone ``138****5678``, card ``6222 **** **** 3446``.
"""

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from p2plend.config import get_settings

# First byte of every ciphertext: which key derivation made it (room for key rotation).
_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12


class PiiKeyError(RuntimeError):
    """The configured PII key is not 32 bytes of base64: a deployment error, not user input."""


@lru_cache(maxsize=4)
def _derived_keys(pii_key: str) -> tuple[bytes, bytes]:
    try:
        master = base64.b64decode(pii_key, validate=True)
    except ValueError as exc:
        raise PiiKeyError("P2PLEND_PII_KEY must be base64") from exc
    if len(master) != 32:
        raise PiiKeyError("P2PLEND_PII_KEY must decode to 32 bytes (AES-256)")

    def derive(purpose: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)

    return derive(b"p2plend/pii/aes-256-gcm/v1"), derive(b"p2plend/pii/blind-index/v1")


def _encryption_key() -> bytes:
    return _derived_keys(get_settings().pii_key)[0]


def _index_key() -> bytes:
    return _derived_keys(get_settings().pii_key)[1]


def encrypt(plaintext: str, *, context: str) -> bytes:
    """Encrypt ``plaintext`` for storage in the column named by ``context``."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_encryption_key()).encrypt(nonce, plaintext.encode(), context.encode())
    return _FORMAT_V1 + nonce + sealed


def decrypt(stored: bytes, *, context: str) -> str:
    """The plaintext of a value made by :func:`encrypt` with the same ``context``."""
    if stored[:1] != _FORMAT_V1:
        raise ValueError("unknown PII ciphertext format")
    nonce = stored[1 : 1 + _NONCE_BYTES]
    sealed = stored[1 + _NONCE_BYTES :]
    return AESGCM(_encryption_key()).decrypt(nonce, sealed, context.encode()).decode()


def blind_index(value: str, *, context: str) -> str:
    """A keyed hash of an already-normalised value: equal values, equal index; unguessable without the key."""
    message = context.encode() + b"\x00" + value.encode()
    return hmac.new(_index_key(), message, hashlib.sha256).hexdigest()


# --- masking (DOMAIN.md §11) -------------------------------------------------------------


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``: the first character, then one ``*`` per remaining character."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def _keep_ends(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def mask_id_number(id_number: str) -> str:
    """``110105199001011234`` → ``110***********1234``: first 3, last 4 (11 stars for 18 characters)."""
    return _keep_ends(id_number, 3, 4)


def mask_phone(phone: str) -> str:
    """``+8613812345678`` or ``13812345678`` → ``138****5678``: the national number, first 3 and last 4."""
    national = phone.removeprefix("+86") if phone.startswith("+86") else phone
    return _keep_ends(national, 3, 4)


def mask_card(card_number: str) -> str:
    """``6222021234567893446`` → ``6222 **** **** 3446``: first 4 and last 4, whatever the length."""
    digits = card_number.replace(" ", "")
    if len(digits) < 8:
        return "**** **** **** ****"
    return f"{digits[:4]} **** **** {digits[-4:]}"
