"""Dual AEAD envelopes and key management of the lcore node."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lcore_node.encryption import HEADER_BYTES, NONCE_BYTES, DualCipher, envelope_key_id
from lcore_node.errors import DecryptionError, KeyConfigError
from lcore_node.keys import KeyStore

PLAIN = b'{"temperature": 21.5, "humidity": 40}'


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env_keys() -> dict[str, str]:
    return {"LCORE_STAGE1_KEY": os.urandom(32).hex(), "LCORE_STAGE2_KEY": os.urandom(32).hex()}


def test_round_trip_and_envelope_layout(tmp_path: Path) -> None:
    cipher = DualCipher(KeyStore.open(tmp_path / "keys"))
    envelope = cipher.seal(PLAIN, "dev-1", 7)
    assert envelope[0] == 1 and envelope_key_id(envelope) == 1
    # header + both nonces + plaintext + two 16-byte tags
    assert len(envelope) == HEADER_BYTES + len(PLAIN) + 32
    assert PLAIN not in envelope
    assert cipher.open(envelope, "dev-1", 7) == PLAIN
    # fresh random nonces: same input, different envelope
    other = cipher.seal(PLAIN, "dev-1", 7)
    assert other[3 : 3 + 2 * NONCE_BYTES] != envelope[3 : 3 + 2 * NONCE_BYTES]


def test_every_flipped_byte_fails_authentication(tmp_path: Path) -> None:
    cipher = DualCipher(KeyStore.open(tmp_path / "keys"))
    envelope = cipher.seal(PLAIN, "dev-1", 1)
    for i in range(len(envelope)):
        tampered = bytearray(envelope)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.open(bytes(tampered), "dev-1", 1)
    with pytest.raises(DecryptionError):
        cipher.open(envelope[:-1], "dev-1", 1)
    with pytest.raises(DecryptionError):
        cipher.open(envelope[:10], "dev-1", 1)


def test_associated_data_binds_device_and_record(tmp_path: Path) -> None:
    cipher = DualCipher(KeyStore.open(tmp_path / "keys"))
    envelope = cipher.seal(PLAIN, "dev-1", 1)
    with pytest.raises(DecryptionError) as info:
        cipher.open(envelope, "dev-1", 2)
    assert info.value.record_id == 2
    with pytest.raises(DecryptionError):
        cipher.open(envelope, "dev-2", 1)


def test_wrong_key_fails(tmp_path: Path) -> None:
    envelope = DualCipher(KeyStore.open(None, _env_keys())).seal(PLAIN, "d", 1)
    with pytest.raises(DecryptionError):
        DualCipher(KeyStore.open(None, _env_keys())).open(envelope, "d", 1)


def test_key_dir_and_file_modes(tmp_path: Path) -> None:
    key_dir = tmp_path / "nested" / "keys"
    old_umask = os.umask(0o000)  # even a permissive umask must not widen the modes
    try:
        store = KeyStore.open(key_dir)
    finally:
        os.umask(old_umask)
    files = sorted(p.name for p in key_dir.iterdir())
    assert files == ["key-00001.bin"]
    assert _mode(key_dir) == 0o700
    assert _mode(key_dir / "key-00001.bin") == 0o600
    raw = (key_dir / "key-00001.bin").read_bytes()
    assert len(raw) == 64 and raw[:32] != raw[32:]
    assert store.current.stage1 == raw[:32] and store.current.stage2 == raw[32:]
    # reopening reuses the key: an envelope sealed before decrypts after
    envelope = DualCipher(store).seal(PLAIN, "d", 1)
    assert DualCipher(KeyStore.open(key_dir)).open(envelope, "d", 1) == PLAIN
    assert repr(store.current) == "KeyPair(key_id=1)"  # key bytes never in logs


def test_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    KeyStore.open(tmp_path / "keys")
    os.chmod(tmp_path / "keys" / "key-00001.bin", 0o644)
    with pytest.raises(KeyConfigError, match="mode 644"):
        KeyStore.open(tmp_path / "keys")


def test_rotation_keeps_old_records_readable(tmp_path: Path) -> None:
    cipher = DualCipher(KeyStore.open(tmp_path / "keys"))
    old = cipher.seal(PLAIN, "d", 1)
    assert cipher.rotate() == 2
    new = cipher.seal(PLAIN, "d", 2)
    assert (envelope_key_id(old), envelope_key_id(new)) == (1, 2)
    assert cipher.open(old, "d", 1) == PLAIN and cipher.open(new, "d", 2) == PLAIN
    assert _mode(tmp_path / "keys" / "key-00002.bin") == 0o600
    # a fresh process picks the highest id as current and reads both
    reopened = DualCipher(KeyStore.open(tmp_path / "keys"))
    assert reopened.current_key_id == 2
    assert reopened.open(old, "d", 1) == PLAIN and reopened.open(new, "d", 2) == PLAIN
    # without the old key file, old records fail with a typed error, not garbage
    (tmp_path / "keys" / "key-00001.bin").unlink()
    with pytest.raises(DecryptionError, match="unknown key id 1"):
        DualCipher(KeyStore.open(tmp_path / "keys")).open(old, "d", 1)


def test_env_keys(tmp_path: Path) -> None:
    env = _env_keys() | {"LCORE_KEY_ID": "5"}
    store = KeyStore.open(tmp_path / "keys", env)
    assert store.current.key_id == 5
    assert store.current.stage1.hex() == env["LCORE_STAGE1_KEY"]
    assert list((tmp_path / "keys").glob("key-*")) == []  # nothing written to disk
    envelope = DualCipher(store).seal(PLAIN, "d", 1)
    assert envelope_key_id(envelope) == 5
    assert DualCipher(KeyStore.open(None, env)).open(envelope, "d", 1) == PLAIN
    with pytest.raises(KeyConfigError, match="env"):
        store.rotate()


@pytest.mark.parametrize(
    ("stage1", "stage2", "match"),
    [
        ("zz" * 32, "ab" * 32, "LCORE_STAGE1_KEY is not valid hex"),
        ("ab" * 32, "ab" * 31, "LCORE_STAGE2_KEY must be 64 hex characters"),
        ("ab" * 32, "", "set both"),
    ],
)
def test_bad_env_keys_are_clear_errors(stage1: str, stage2: str, match: str) -> None:
    with pytest.raises(KeyConfigError, match=match):
        KeyStore.open(None, {"LCORE_STAGE1_KEY": stage1, "LCORE_STAGE2_KEY": stage2})


def test_no_keys_at_all_is_an_error() -> None:
    with pytest.raises(KeyConfigError, match="no key dir"):
        KeyStore.open(None, {})
