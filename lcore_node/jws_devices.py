"""The devices of a node in ``--device-auth jws`` mode: each one's P-256 key and the last
token counter it used (restored from the stored tokens when the node starts)."""

from __future__ import annotations

import sqlite3

from cryptography.hazmat.primitives.asymmetric import ec

from lcore_node.errors import UnauthorizedError
from lcore_node.jws import detached, parse_p256_key, token_counter, verify_device_jws
from utils.errors import ConfigError

__all__ = ["JwsDevices", "check_auth", "key_auth", "last_tokens", "registered_auth"]


def key_auth(key_hex: str) -> str:
    """The device auth a registered key belongs to: "jws" for an uncompressed P-256 point
    (65 bytes, 04||X||Y), else "ed25519"."""
    text = key_hex.removeprefix("0x").lower()
    return "jws" if len(text) == 130 and text.startswith("04") else "ed25519"


def check_auth(devices: list[tuple[str, str]], auth: str, db: object) -> None:
    """The ``(device id, key hex)`` of a database all sign as ``auth`` says, else a
    ConfigError naming the mode they were registered with (their keys cannot be read in
    the other one)."""
    other = next(((d, k) for d, k in devices if key_auth(k) != auth), None)
    if other is not None:
        mode = key_auth(other[1])
        raise ConfigError("--device-auth", f"{db}: device {other[0]!r} is registered with a "
                          f"{mode} key (this node's devices sign with {auth}); give "
                          f"--device-auth {mode} (env KCSTRESS_DEVICE_AUTH) or another "
                          "database")


def registered_auth(db: str | object) -> str | None:
    """The device auth of a database's registered devices (its first device's), None when it
    has none (or no devices table yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT public_key FROM devices LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return key_auth(str(row[0])) if row else None


class JwsDevices:
    def __init__(self) -> None:
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._last: dict[str, int] = {}

    def register(self, device_id: str, key_hex: object) -> str:
        """Parse and keep a device's key; its normalized hex."""
        normalized, key = parse_p256_key(key_hex, device_id)
        self._keys[device_id] = key
        return normalized

    def restore(self, device_id: str, key_hex: str, last_token: str | None) -> None:
        """A device of the database, with its last stored token (its counter)."""
        self.register(device_id, key_hex)
        counter = token_counter(last_token) if last_token else None
        if counter is not None:
            self._last[device_id] = counter

    def _key(self, device_id: str) -> ec.EllipticCurvePublicKey:
        key = self._keys.get(device_id)
        if key is None:
            raise UnauthorizedError("device token: the device has no P-256 key registered",
                                    device_id=device_id)
        return key

    def check(self, device_id: str, token: object, timestamp: int, data: str) -> str:
        """Verify a submission's token and take its counter; the token detached (to store:
        the data is kept encrypted, never in a token)."""
        counter = verify_device_jws(self._key(device_id), token, device_id, timestamp, data,
                                    self._last.get(device_id))
        self._last[device_id] = counter
        assert isinstance(token, str)
        return detached(token)

    def check_stored(self, token: str, device_id: str, data: bytes) -> None:
        """A stored (detached) token as the Cartesi application re-checks it: signature,
        device and data (its timestamp and counter as the token says; the node checked them
        at intake)."""
        verify_device_jws(self._key(device_id), token, device_id, None, data.decode("utf-8"),
                          None)


def last_tokens(conn: sqlite3.Connection) -> dict[str, str]:
    """Each device's last stored token (its highest record id)."""
    return {str(d): str(s) for d, s in conn.execute(
        "SELECT device_id, signature FROM data_submissions WHERE id IN"
        " (SELECT MAX(id) FROM data_submissions GROUP BY device_id)"
        " AND signature IS NOT NULL")}
