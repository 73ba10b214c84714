"""The message a device signs for one submission: the node's protocol, defined once here.

The device simulator (``utils.iot.devices``) signs exactly these bytes.
"""

from __future__ import annotations

import hashlib

__all__ = ["sha256_hex", "signing_message"]


def sha256_hex(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def signing_message(device_id: str, timestamp: int, data: str) -> bytes:
    """The exact bytes a device signs: ``f"{device_id}|{timestamp}|{sha256_hex(data)}"``."""
    return f"{device_id}|{timestamp}|{sha256_hex(data)}".encode()
