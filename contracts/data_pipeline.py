"""The IoT workloads: device registration and sensor-data submission.

Both talk to an lcore node through its API (:class:`lcore_node.types.NodeApi`):
the in-process node, or the HTTP client when LCORE_NODE_URL is set. The node
times and emits each stage (validate, encrypt, store); its outbox commits the
stored record on chain and emits the ``commit`` stage.
"""

from __future__ import annotations

import logging
import random
from collections import deque

from lcore_node.errors import LcoreError
from lcore_node.types import NodeApi
from utils.clock import Clock
from utils.iot.devices import DeviceFleet, SimulatedDevice
from utils.load.workload import Workload

log = logging.getLogger(__name__)


class RegistrationWorkload(Workload):
    """Registers the fleet's devices one per step, until all are registered."""

    name = "iot_registration"

    def __init__(self, node: NodeApi, fleet: DeviceFleet) -> None:
        self.node = node
        self._waiting: deque[SimulatedDevice] = deque(fleet)
        self.registered: list[SimulatedDevice] = []

    def exhausted(self) -> bool:
        return not self._waiting

    async def step(self, intended_at: float) -> None:
        if not self._waiting:
            return
        device = self._waiting.popleft()
        try:
            await self.node.register_device(
                device.device_id, device.public_key_hex, device.device_type
            )
        except LcoreError as exc:  # the node emitted the failure; try this device again later
            log.warning("registering %s failed: %s", device.device_id, exc)
            self._waiting.append(device)
            return
        self.registered.append(device)


class SubmissionWorkload(Workload):
    """Each step: a registered device's next reading, signed, submitted to the node."""

    name = "data_pipeline"

    def __init__(
        self,
        node: NodeApi,
        registration: RegistrationWorkload,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.node = node
        self._registration = registration
        self._clock = clock
        self._rng = rng
        self.accepted = 0
        self.refused = 0
        self.skipped = 0  # firings before any device was registered

    async def step(self, intended_at: float) -> None:
        devices = self._registration.registered
        if not devices:
            if not self.skipped:
                log.info("data_pipeline: no device registered yet; skipping firings")
            self.skipped += 1
            return
        device = self._rng.choice(devices)
        sub = device.make_submission(self._clock.now())
        try:
            await self.node.submit_data(sub.device_id, sub.data, sub.timestamp, sub.signature)
        except LcoreError as exc:  # refused: the node emitted the failure event
            self.refused += 1
            log.debug("submission from %s refused: %s", sub.device_id, exc)
            return
        self.accepted += 1
