"""Payload encryption: round trip, no plaintext, key rotation, wrong keys."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from sidecar.crypto import PayloadCipher, UnreadablePayload

PAYLOAD = {
    "method": "POST",
    "path": "/webhook/x",
    "body": "c2VjcmV0LXRva2Vu",
    "headers": [["A", "b"]],
}


def test_without_keys_payloads_are_stored_as_given() -> None:
    cipher = PayloadCipher([])
    assert not cipher.enabled
    assert cipher.seal(PAYLOAD) is PAYLOAD
    assert cipher.unseal(PAYLOAD) is PAYLOAD


def test_sealed_payload_shows_no_plaintext_and_round_trips() -> None:
    cipher = PayloadCipher([Fernet.generate_key().decode()])
    sealed = cipher.seal(PAYLOAD)
    text = json.dumps(sealed)
    for secret in ("c2VjcmV0LXRva2Vu", "/webhook/x", "POST"):
        assert secret not in text
    assert cipher.unseal(sealed) == PAYLOAD


def test_rotation_new_key_first_still_opens_old_payloads() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_with_old = PayloadCipher([old]).seal(PAYLOAD)
    rotated = PayloadCipher([new, old])
    assert rotated.unseal(sealed_with_old) == PAYLOAD
    assert PayloadCipher([new]).unseal(rotated.seal(PAYLOAD)) == PAYLOAD  # new key encrypts


def test_wrong_or_missing_key_is_a_clear_error() -> None:
    sealed = PayloadCipher([Fernet.generate_key().decode()]).seal(PAYLOAD)
    with pytest.raises(UnreadablePayload, match="no configured SIDECAR_ENCRYPTION_KEY"):
        PayloadCipher([Fernet.generate_key().decode()]).unseal(sealed)
    with pytest.raises(UnreadablePayload, match="is not set"):
        PayloadCipher([]).unseal(sealed)
