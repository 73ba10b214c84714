"""Dual AEAD encryption of sensor records.

Stage 1 is AES-256-GCM over the plaintext, stage 2 is ChaCha20-Poly1305 over
the stage-1 ciphertext; each stage has its own random 96-bit nonce. The
envelope is::

    version (1 byte) | key id (2 bytes, big endian) | nonce1 (12) | nonce2 (12) | ciphertext

Both stages authenticate the same associated data, which binds the envelope
header, the device id and the record id: an envelope copied onto another
record, or under a tampered header, fails to decrypt with
:class:`DecryptionError` (never garbage).
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from lcore_node.errors import DecryptionError
from lcore_node.keys import KeyPair, KeyStore

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = struct.Struct(">BH")
HEADER_BYTES = _HEADER.size + 2 * NONCE_BYTES
MIN_ENVELOPE_BYTES = HEADER_BYTES + 2 * TAG_BYTES
_AD_PREFIX = b"lcore-record\x00"
_RECORD_ID = struct.Struct(">Q")


def associated_data(header: bytes, device_id: str, record_id: int) -> bytes:
    """What both AEAD stages authenticate: version + key id, record id, device id."""
    return b"".join((_AD_PREFIX, header, _RECORD_ID.pack(record_id), device_id.encode()))


def envelope_key_id(envelope: bytes) -> int:
    """The key id an envelope was sealed under."""
    if len(envelope) < MIN_ENVELOPE_BYTES:
        raise DecryptionError(f"envelope too short ({len(envelope)} bytes)")
    version, key_id = _HEADER.unpack_from(envelope)
    if version != VERSION:
        raise DecryptionError(f"unknown envelope version {version}", key_id=key_id)
    return int(key_id)


class _NonceSource:
    """Random nonces from ``os.urandom``, fetched in bulk.

    One ``getrandom`` call per 256 records instead of one per record: each call
    releases the GIL, and winning it back from the writer thread is what costs.
    The buffer is dropped when the process id changes (a forked child), so two
    processes never share nonces.
    """

    _CHUNK = 256 * 2 * NONCE_BYTES

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0
        self._pid = os.getpid()

    def take(self, size: int) -> bytes:
        if self._offset + size > len(self._buffer) or os.getpid() != self._pid:
            self._buffer, self._offset = os.urandom(max(size, self._CHUNK)), 0
            self._pid = os.getpid()
        start = self._offset
        self._offset = start + size
        return self._buffer[start : self._offset]


class DualCipher:
    """Seals and opens envelopes; AEAD objects are built once per key id."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._aeads: dict[int, tuple[AESGCM, ChaCha20Poly1305]] = {}
        self._nonces = _NonceSource()

    @property
    def current_key_id(self) -> int:
        return self._keys.current.key_id

    def rotate(self) -> int:
        """Make a new key pair current; older envelopes stay readable. Returns the new id."""
        return self._keys.rotate().key_id

    def _aead(self, key_id: int) -> tuple[AESGCM, ChaCha20Poly1305]:
        aeads = self._aeads.get(key_id)
        if aeads is None:
            pair: KeyPair | None = self._keys.get(key_id)
            if pair is None:
                raise DecryptionError(f"unknown key id {key_id}", key_id=key_id)
            aeads = (AESGCM(pair.stage1), ChaCha20Poly1305(pair.stage2))
            self._aeads[key_id] = aeads
        return aeads

    def seal(self, plaintext: bytes, device_id: str, record_id: int) -> bytes:
        """Encrypt ``plaintext`` for record ``record_id`` of ``device_id``."""
        key_id = self._keys.current.key_id
        aes, chacha = self._aead(key_id)
        nonces = self._nonces.take(2 * NONCE_BYTES)
        header = _HEADER.pack(VERSION, key_id)
        ad = associated_data(header, device_id, record_id)
        inner = aes.encrypt(nonces[:NONCE_BYTES], plaintext, ad)
        outer = chacha.encrypt(nonces[NONCE_BYTES:], inner, ad)
        return header + nonces + outer

    def open(self, envelope: bytes, device_id: str, record_id: int) -> bytes:
        """Decrypt an envelope; :class:`DecryptionError` unless every byte is authentic."""
        key_id = envelope_key_id(envelope)
        aes, chacha = self._aead(key_id)
        header = envelope[: _HEADER.size]
        nonce1 = envelope[_HEADER.size : _HEADER.size + NONCE_BYTES]
        nonce2 = envelope[_HEADER.size + NONCE_BYTES : HEADER_BYTES]
        ad = associated_data(header, device_id, record_id)
        try:
            inner = chacha.decrypt(nonce2, envelope[HEADER_BYTES:], ad)
            return aes.decrypt(nonce1, inner, ad)
        except InvalidTag:
            raise DecryptionError(
                "envelope failed authentication (wrong key, tampered bytes or wrong record)",
                record_id=record_id,
                key_id=key_id,
            ) from None
