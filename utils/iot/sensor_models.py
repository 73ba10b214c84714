"""Seeded, physically plausible sensor time series for the simulated IoT devices.

Each model keeps state and advances it by the wall-clock time since its last
reading, so every value follows from the previous one (mean-reverting
Ornstein-Uhlenbeck steps, integrators, daily cycles), never independent noise.
All randomness comes from the ``random.Random`` a model is given: same seed and
same ``now`` sequence, same readings.
"""

from __future__ import annotations

import math
import random
from typing import Protocol


class ReadingSource(Protocol):
    """Something that yields the type-specific payload fields of one reading."""

    def values(self, now: float) -> dict[str, object]: ...


def ou_step(x: float, mu: float, tau: float, sigma: float, dt: float, rng: random.Random) -> float:
    """Exact Ornstein-Uhlenbeck step: revert to ``mu`` with time constant ``tau``.

    ``sigma`` is the stationary standard deviation, so the result does not
    depend on how finely time is sliced.
    """
    decay = math.exp(-dt / tau)
    return mu + (x - mu) * decay + sigma * math.sqrt(1.0 - decay * decay) * rng.gauss(0.0, 1.0)


def clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


class _Clock:
    """Elapsed time between readings, capped so a long pause cannot blow up a model."""

    def __init__(self, max_gap: float) -> None:
        self.max_gap = max_gap
        self.last: float | None = None

    def tick(self, now: float) -> float:
        dt = 0.0 if self.last is None else clamp(now - self.last, 0.0, self.max_gap)
        if self.last is None or now > self.last:
            self.last = now
        return dt


UTC_OFFSET_S = -6 * 3600  # greenhouses sit in Kansas City (CST)


def daylight(now: float) -> float:
    """0 at night, rising to 1 at local noon (sunrise 06:00, sunset 18:00)."""
    hour = ((now + UTC_OFFSET_S) % 86400.0) / 3600.0
    return max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0))


class GreenhouseModel:
    """Climate driven by a daily light cycle; soil, nutrients and plants follow it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = _Clock(max_gap=86400.0)
        self.cloud = rng.uniform(0.6, 1.0)
        self.temp = rng.uniform(18.0, 24.0)
        self.humidity = rng.uniform(60.0, 80.0)
        self.soil = rng.uniform(30.0, 45.0)
        self.irrigating = False
        self.co2 = rng.uniform(450.0, 650.0)
        self.ph = rng.uniform(5.8, 6.4)
        self.nutrient = rng.uniform(800.0, 1100.0)
        self.height = rng.uniform(10.0, 60.0)
        self.growth = rng.uniform(1.0, 2.0)

    def values(self, now: float) -> dict[str, object]:
        dt, rng = self.clock.tick(now), self.rng
        self.cloud = clamp(ou_step(self.cloud, 0.8, 3600.0, 0.15, dt, rng), 0.2, 1.0)
        sun = daylight(now) * self.cloud
        self.temp = clamp(ou_step(self.temp, 17.0 + 10.0 * sun, 1800.0, 0.6, dt, rng), 5.0, 40.0)
        rh_target = clamp(88.0 - 1.8 * (self.temp - 17.0), 35.0, 95.0)
        self.humidity = clamp(ou_step(self.humidity, rh_target, 1200.0, 1.5, dt, rng), 20.0, 99.0)
        self._water_and_feed(dt, sun)
        self.co2 = clamp(
            ou_step(self.co2, 720.0 - 330.0 * sun, 1200.0, 20.0, dt, rng), 300.0, 1500.0
        )
        self.ph = clamp(ou_step(self.ph, 6.1, 6 * 3600.0, 0.12, dt, rng), 5.0, 7.5)
        growth_target = 0.6 + 2.2 * sun * clamp(1.0 - abs(self.temp - 24.0) / 15.0, 0.0, 1.0)
        self.growth = clamp(ou_step(self.growth, growth_target, 3 * 3600.0, 0.1, dt, rng), 0.0, 4.0)
        self.height += self.growth * dt / 86400.0
        if self.height > 250.0:  # harvest and replant, so a 24/7 run stays bounded
            self.height = 5.0
        return {
            "temperature": round(self.temp, 2),
            "humidity": round(self.humidity, 2),
            "soil_moisture": round(self.soil, 2),
            "light_intensity": round(55000.0 * sun, 1),
            "co2_level": round(self.co2, 1),
            "ph_level": round(self.ph, 2),
            "nutrient_level": round(self.nutrient, 1),
            "plant_height": round(self.height, 3),
            "leaf_count": 4 + int(self.height / 4.5),
            "growth_rate": round(self.growth, 3),
        }

    def _water_and_feed(self, dt: float, sun: float) -> None:
        """Soil dries with light and heat until drip irrigation refills it (hysteresis)."""
        hours = dt / 3600.0
        if self.irrigating:
            self.soil += 20.0 * hours  # drip line: +20 %/h
            self.irrigating = self.soil < 48.0
        else:
            self.soil -= (0.4 + 1.6 * sun + 0.03 * max(0.0, self.temp - 20.0)) * hours
            self.irrigating = self.soil < 28.0
        self.soil = clamp(
            self.soil + 0.05 * self.rng.gauss(0.0, 1.0) * math.sqrt(hours), 10.0, 60.0
        )
        self.nutrient -= (8.0 + 25.0 * sun) * hours  # uptake, faster in light
        if self.nutrient < 700.0:  # dosing pump tops the reservoir up
            self.nutrient += 400.0
        self.nutrient += 2.0 * self.rng.gauss(0.0, 1.0) * math.sqrt(hours)


class EvModel:
    """A 1.8 t EV with a 75 kWh pack: driver -> acceleration -> speed -> power -> battery.

    The model integrates in steps of at most one second, so speed is exactly
    the integral of acceleration and distance the integral of speed. Regenerative
    braking returns energy to the pack (state of charge and voltage rise); a low
    pack makes the driver stop and fast-charge, which keeps long runs bounded.
    """

    MASS_KG = 1800.0
    CAPACITY_J = 75.0 * 3.6e6
    R_INT_OHM = 0.06
    AUX_W = 600.0
    CHARGE_W = 50_000.0
    SUBSTEP_S = 1.0
    VMAX_MS = 130.0 / 3.6

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = _Clock(max_gap=600.0)
        self.cruise = rng.uniform(40.0, 80.0)  # km/h the driver aims for
        self.v = rng.uniform(0.0, 15.0)  # m/s
        self.a = 0.0  # m/s^2
        self.soc = rng.uniform(0.55, 0.9)
        self.charging = False
        self.odo_m = rng.uniform(1e6, 6e7)
        self.used_j = self.odo_m * 0.17 * 3.6e3  # about 0.17 kWh/km so far
        self.t_batt = rng.uniform(22.0, 28.0)
        self.t_motor = self.t_batt + rng.uniform(0.0, 5.0)
        self.p_batt = self.AUX_W
        self.p_wheel = 0.0
        self.regen_w = 0.0
        self._power()

    def values(self, now: float) -> dict[str, object]:
        dt = self.clock.tick(now)
        steps = math.ceil(dt / self.SUBSTEP_S)
        for _ in range(steps):
            self._advance(dt / steps)
        ocv = 330.0 + 75.0 * self.soc
        current = self.p_batt / ocv
        return {
            "battery_voltage": round(ocv - current * self.R_INT_OHM, 2),
            "battery_current": round(current, 2),
            "battery_temperature": round(self.t_batt, 2),
            "motor_temperature": round(self.t_motor, 2),
            "speed": round(self.v * 3.6, 2),
            "acceleration": round(self.a, 3),
            "regenerative_braking": round(self.regen_w / 1000.0, 2),
            "energy_consumption": round(self.used_j / 3.6e6, 4),
            "distance": round(self.odo_m / 1000.0, 4),
        }

    def _advance(self, h: float) -> None:
        self._drive(h)
        self._power()
        self.soc = clamp(self.soc - self.p_batt * h / self.CAPACITY_J, 0.0, 1.0)
        self.used_j += max(self.p_batt, 0.0) * h
        current = abs(self.p_batt) / 360.0
        rng = self.rng
        self.t_batt = ou_step(self.t_batt, 24.0 + 0.1 * current, 900.0, 0.3, h, rng)
        heat = max(self.p_wheel, 0.0) + 0.3 * self.regen_w
        self.t_motor = ou_step(self.t_motor, 28.0 + 0.8e-3 * heat, 240.0, 0.4, h, rng)

    def _drive(self, h: float) -> None:
        if self.charging:
            self.a = 0.0
            self.charging = self.soc < 0.9
            return
        self.cruise = clamp(ou_step(self.cruise, 60.0, 600.0, 25.0, h, self.rng), 0.0, 120.0)
        target = 0.0 if self.soc < 0.15 else self.cruise / 3.6
        want = clamp(0.15 * (target - self.v), -3.0, 2.0)
        a = clamp(ou_step(self.a, want, 2.0, 0.5, h, self.rng), -4.0, 3.0)
        v_new = clamp(self.v + a * h, 0.0, self.VMAX_MS)
        self.a = (v_new - self.v) / h
        self.odo_m += 0.5 * (self.v + v_new) * h
        self.v = v_new
        self.charging = self.soc < 0.15 and v_new == 0.0

    def _power(self) -> None:
        if self.charging:
            self.p_wheel, self.regen_w = 0.0, 0.0
            self.p_batt = self.AUX_W - self.CHARGE_W
            return
        v = self.v
        drag = 0.5 * 1.225 * 0.62 * v * v
        rolling = self.MASS_KG * 9.81 * 0.011 if v > 0.0 else 0.0
        self.p_wheel = (self.MASS_KG * self.a + drag + rolling) * v
        if self.p_wheel >= 0.0:
            self.regen_w = 0.0
            self.p_batt = self.p_wheel / 0.9 + self.AUX_W
        else:
            self.regen_w = -self.p_wheel * 0.65
            self.p_batt = self.AUX_W - self.regen_w


SEGMENTS: tuple[str, ...] = ("regular", "premium", "new", "business")
_SEGMENT_WEIGHTS = (0.55, 0.2, 0.15, 0.1)
LOCATIONS: tuple[str, ...] = (
    "Kansas City - Downtown",
    "Kansas City - Westport",
    "Kansas City - Crossroads",
    "Kansas City - River Market",
    "Kansas City - Country Club Plaza",
    "Overland Park",
    "Independence",
    "Lee's Summit",
)


class PosModel:
    """A store till: baskets of line items from a fixed catalog with drifting prices.

    One reading is one line item. ``transaction_id`` is ``id_prefix`` plus a
    zero-padded counter, so ids are unique per terminal and increase both as
    numbers and as strings. A customer's segment holds for a whole basket.
    """

    CATALOG_SIZE = 40

    def __init__(self, rng: random.Random, id_prefix: str) -> None:
        self.rng = rng
        self.prefix = id_prefix
        self.seq = rng.randint(1, 50_000)
        self.location = rng.choice(LOCATIONS)
        self.codes = [f"SKU-{c}" for c in rng.sample(range(10_000, 100_000), self.CATALOG_SIZE)]
        lo, hi = math.log(1.5), math.log(120.0)
        self.base = [math.exp(rng.uniform(lo, hi)) for _ in range(self.CATALOG_SIZE)]
        self.factor = [1.0] * self.CATALOG_SIZE
        popularity = [1.0 / (k + 1) for k in range(self.CATALOG_SIZE)]  # Zipf-like
        self.cum_weights = [sum(popularity[: k + 1]) for k in range(self.CATALOG_SIZE)]
        self.segment = SEGMENTS[0]
        self.basket_left = 0

    def values(self, now: float) -> dict[str, object]:
        rng = self.rng
        if self.basket_left <= 0:
            self.segment = rng.choices(SEGMENTS, weights=_SEGMENT_WEIGHTS)[0]
            self.basket_left = 1 + int(rng.expovariate(1.0 / 2.5))
        self.basket_left -= 1
        k = rng.choices(range(self.CATALOG_SIZE), cum_weights=self.cum_weights)[0]
        self.factor[k] = clamp(self.factor[k] + rng.gauss(0.0, 0.004), 0.85, 1.15)
        price = round(self.base[k] * self.factor[k], 2)
        quantity = min(50, 1 + int(rng.expovariate(0.2 if self.segment == "business" else 1.0)))
        self.seq += 1
        return {
            "transaction_id": f"{self.prefix}{self.seq:010d}",
            "product_code": self.codes[k],
            "quantity": quantity,
            "unit_price": price,
            "total_amount": round(quantity * price, 2),
            "customer_segment": self.segment,
            "location": self.location,
        }
