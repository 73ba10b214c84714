"""Typed errors of the lcore node.

Every error the node raises on purpose derives from :class:`LcoreError`. Each
class carries a short machine ``code`` (used in events and in the HTTP body)
and the ``http_status`` the API answers with, so the API never guesses and
never turns bad input into a 500.
"""

from __future__ import annotations

from utils.errors import KcStressError


class LcoreError(KcStressError):
    """Root of the lcore node errors."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, device_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.device_id = device_id


class InvalidError(LcoreError):
    """A request field is missing, of the wrong type, or not well formed."""

    code = "invalid"
    http_status = 422

    def __init__(
        self, message: str, *, field: str | None = None, device_id: str | None = None
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message, device_id=device_id)
        self.field = field


class MalformedError(LcoreError):
    """The request body is not JSON at all."""

    code = "malformed"
    http_status = 400


class NotFoundError(LcoreError):
    """The device (or record) is unknown."""

    code = "not_found"
    http_status = 404


class UnauthorizedError(LcoreError):
    """The signature is missing or does not verify."""

    code = "unauthorized"
    http_status = 401


class StaleError(UnauthorizedError):
    """The signed timestamp is too far from the node clock."""

    code = "stale"

    def __init__(
        self, message: str, *, timestamp: int | None = None, device_id: str | None = None
    ) -> None:
        super().__init__(message, device_id=device_id)
        self.timestamp = timestamp


class ConflictError(LcoreError):
    """The device is already registered with another public key."""

    code = "conflict"
    http_status = 409


class ReplayError(ConflictError):
    """This exact signature was already accepted."""

    code = "replay"


class TooLargeError(LcoreError):
    """The sensor data exceeds the configured limit."""

    code = "too_large"
    http_status = 413

    def __init__(
        self,
        message: str,
        *,
        size: int | None = None,
        limit: int | None = None,
        device_id: str | None = None,
    ) -> None:
        super().__init__(message, device_id=device_id)
        self.size = size
        self.limit = limit


class DecryptionError(LcoreError):
    """An envelope failed authentication (wrong key, tampered bytes, wrong record)."""

    code = "decryption"

    def __init__(
        self, message: str, *, record_id: int | None = None, key_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.key_id = key_id


class KeyConfigError(LcoreError):
    """Encryption keys cannot be loaded or created (bad env hex, bad file mode, ...)."""

    code = "key_config"


class StorageError(LcoreError):
    """SQLite failed (I/O, lock held by another node, closed storage)."""

    code = "storage"
    http_status = 503


class UnavailableError(LcoreError):
    """The remote node could not be reached or answered with a server error."""

    code = "unavailable"
    http_status = 503


ERRORS_BY_CODE: dict[str, type[LcoreError]] = {
    cls.code: cls
    for cls in (
        InvalidError,
        MalformedError,
        NotFoundError,
        UnauthorizedError,
        StaleError,
        ConflictError,
        ReplayError,
        TooLargeError,
        StorageError,
        UnavailableError,
    )
}


#: error codes that blame the device's input, not the node: those the API answers with a 4xx
DEVICE_ERROR_CODES = frozenset(
    code for code, cls in ERRORS_BY_CODE.items() if 400 <= cls.http_status < 500
)
