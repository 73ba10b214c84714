"""The message a device signs for one submission.

Defined once, in ``utils.devices`` (the device simulator); re-exported here so
the node's modules import it from their own package.
"""

from __future__ import annotations

from utils.devices import signing_message

__all__ = ["signing_message"]
