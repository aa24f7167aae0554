"""Encryption at rest of job payloads (SIDECAR_ENCRYPTION_KEY): Fernet, with rotation.

`seal(payload)` replaces a payload by {"sealed": <Fernet token>}; `unseal` reverses it. The
first key encrypts; every key decrypts (MultiFernet), so keys rotate by putting the new key
first and keeping the old one until no job sealed with it is left. Without keys both are
identity functions.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

SEALED = "sealed"


class UnreadablePayload(Exception):
    """A sealed payload none of the configured keys can open."""


class PayloadCipher:
    """Seals and unseals job payloads. Parameters: `keys` (first encrypts; all decrypt)."""

    def __init__(self, keys: list[SecretStr] | list[str]) -> None:
        secrets = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
        self.fernet = MultiFernet([Fernet(k) for k in secrets]) if secrets else None

    @property
    def enabled(self) -> bool:
        """True when payloads are encrypted."""
        return self.fernet is not None

    def seal(self, payload: dict) -> dict:
        """The payload as stored: encrypted when keys are configured."""
        if self.fernet is None:
            return payload
        token = self.fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode())
        return {SEALED: token.decode("ascii")}

    def unseal(self, stored: dict) -> dict:
        """The payload as it was given to `seal`; UnreadablePayload if no key opens it."""
        if SEALED not in stored:
            return stored
        if self.fernet is None:
            raise UnreadablePayload("payload is encrypted but SIDECAR_ENCRYPTION_KEY is not set")
        try:
            return json.loads(self.fernet.decrypt(stored[SEALED].encode("ascii")))
        except InvalidToken:
            raise UnreadablePayload(
                "no configured SIDECAR_ENCRYPTION_KEY opens this payload"
            ) from None
