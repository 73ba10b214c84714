"""The IoT device simulator: determinism, schema, plausible time series, signatures."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import random
import statistics

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from utils.errors import ConfigError
from utils.iot.devices import (
    DEVICE_ID_RE,
    DEVICE_TYPES,
    DeviceError,
    DeviceFleet,
    SimulatedDevice,
    fleet_tag,
    signing_message,
    verify_signature,
)
from utils.iot.sensor_models import EvModel, GreenhouseModel

T0 = 1_717_236_000.0  # 2024-06-01 10:00 UTC

FIELDS = {
    "ev_sensor": {
        "battery_voltage", "battery_current", "battery_temperature", "motor_temperature",
        "speed", "acceleration", "regenerative_braking", "energy_consumption", "distance",
    },
    "greenhouse": {
        "temperature", "humidity", "soil_moisture", "light_intensity", "co2_level", "ph_level",
        "nutrient_level", "plant_height", "leaf_count", "growth_rate",
    },
    "pos_terminal": {
        "transaction_id", "product_code", "quantity", "unit_price", "total_amount",
        "customer_segment", "location",
    },
}  # fmt: skip


def lag1_autocorrelation(xs: list[float]) -> float:
    mean = statistics.fmean(xs)
    dev = [x - mean for x in xs]
    return sum(a * b for a, b in itertools.pairwise(dev)) / sum(d * d for d in dev)


def series(device: SimulatedDevice, step: float, n: int) -> list[dict[str, object]]:
    return [device.next_reading(T0 + k * step) for k in range(n)]


def column(readings: list[dict[str, object]], name: str) -> list[float]:
    values = [r[name] for r in readings]
    assert all(isinstance(v, int | float) for v in values)
    return [float(v) for v in values]  # type: ignore[arg-type]


def test_same_seed_gives_same_submissions_and_keys() -> None:
    runs = []
    for _ in range(2):
        fleet = DeviceFleet(6, seed=1234)
        subs = [fleet.pick().make_submission(T0 + k * 0.5) for k in range(60)]
        runs.append(([d.public_key_hex for d in fleet], subs))
    assert runs[0] == runs[1]
    other = DeviceFleet(6, seed=1235)
    assert {d.public_key_hex for d in other}.isdisjoint(runs[0][0])
    other_subs = [other.pick().make_submission(T0 + k * 0.5) for k in range(60)]
    assert [s.data for s in other_subs] != [s.data for s in runs[0][1]]


def test_fleet_layout_ids_and_keys() -> None:
    fleet = DeviceFleet(7, seed=3)
    assert len(fleet) == 7 and list(fleet) == fleet.devices
    assert [d.device_type for d in fleet] == [DEVICE_TYPES[i % 3] for i in range(7)]
    tag = fleet_tag(3)
    assert fleet.devices[4].device_id == f"greenhouse-{tag}-0004"
    assert all(DEVICE_ID_RE.fullmatch(d.device_id) for d in fleet)
    keys = [bytes.fromhex(d.public_key_hex) for d in fleet]
    assert all(len(k) == 32 for k in keys) and len(set(keys)) == 7
    assert fleet.get(f"pos_terminal-{tag}-0005") is fleet.devices[5]
    assert fleet.get("nope") is None
    picks = [fleet.pick().device_id for _ in range(700)]
    assert set(picks) == {d.device_id for d in fleet}
    assert max(picks.count(d.device_id) for d in fleet) < 150  # roughly uniform (100 each)


def test_private_key_is_not_a_field() -> None:
    device = DeviceFleet(1, seed=9).devices[0]
    assert set(dataclasses.asdict(device)) == {"device_id", "device_type", "public_key_hex"}
    assert "private" not in repr(device).lower()


def test_bad_inputs_raise_typed_errors() -> None:
    with pytest.raises(ConfigError, match="IOT_DEVICE_COUNT"):
        DeviceFleet(0, seed=1)
    key = Ed25519PrivateKey.generate()
    model = GreenhouseModel(random.Random(1))
    with pytest.raises(DeviceError, match="bad id!"):
        SimulatedDevice("bad id!", "greenhouse", private_key=key, source=model)
    with pytest.raises(DeviceError, match="toaster"):
        SimulatedDevice("dev-1", "toaster", private_key=key, source=model)


def test_payload_schema_per_type() -> None:
    fleet = DeviceFleet(3, seed=5)
    for device in fleet:
        reading = device.next_reading(T0)
        assert set(reading) == FIELDS[device.device_type] | {
            "device_id",
            "device_type",
            "timestamp",
        }
        assert reading["device_id"] == device.device_id
        assert reading["device_type"] == device.device_type
        assert reading["timestamp"] == T0
    ev, gh, pos = (d.next_reading(T0 + 1) for d in fleet)
    assert all(isinstance(ev[f], float) for f in FIELDS["ev_sensor"])
    assert isinstance(gh["leaf_count"], int) and isinstance(gh["temperature"], float)
    assert isinstance(pos["quantity"], int) and isinstance(pos["transaction_id"], str)


def test_submission_json_and_signature() -> None:
    device = DeviceFleet(2, seed=77).devices[1]
    sub = device.make_submission(T0 + 0.75)
    assert sub.device_id == device.device_id and sub.timestamp == int(T0)
    payload = json.loads(sub.data)
    assert sub.data == json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert payload["device_id"] == device.device_id
    # verify independently of the module: the message is spelled out here
    digest = hashlib.sha256(sub.data.encode()).hexdigest()
    message = f"{device.device_id}|{sub.timestamp}|{digest}".encode()
    assert signing_message(sub.device_id, sub.timestamp, sub.data) == message
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(device.public_key_hex))
    public.verify(bytes.fromhex(sub.signature), message)
    tampered = sub.data.replace('"greenhouse"', '"greenhousE"')
    with pytest.raises(InvalidSignature):
        public.verify(bytes.fromhex(sub.signature), signing_message(sub.device_id, 1, tampered))
    args = (device.public_key_hex, sub.device_id, sub.timestamp)
    assert verify_signature(*args, sub.data, sub.signature)
    assert not verify_signature(*args, tampered, sub.signature)
    assert not verify_signature(device.public_key_hex, sub.device_id, sub.timestamp + 1,
                                sub.data, sub.signature)  # fmt: skip
    other = DeviceFleet(2, seed=77).devices[0].public_key_hex
    assert not verify_signature(other, sub.device_id, sub.timestamp, sub.data, sub.signature)
    assert not verify_signature(*args, sub.data, "zz" + sub.signature[2:])


def test_ev_is_a_consistent_drive() -> None:
    ev = DeviceFleet(1, seed=21).devices[0]
    rs = series(ev, 1.0, 7200)  # two hours, one reading per second
    speed, accel = column(rs, "speed"), column(rs, "acceleration")
    dist, energy = column(rs, "distance"), column(rs, "energy_consumption")
    volts, amps, regen = (
        column(rs, "battery_voltage"),
        column(rs, "battery_current"),
        column(rs, "regenerative_braking"),
    )
    assert min(speed) >= 0 and max(speed) <= 130 and statistics.fmean(speed) > 20
    assert max(abs(a) for a in accel) <= 4.0
    assert min(volts) > 300 and max(volts) < 420 and min(amps) > -200 and max(amps) < 450
    for name in ("battery_temperature", "motor_temperature"):
        assert min(column(rs, name)) > 15 and max(column(rs, name)) < 80
    for k in range(1, len(rs)):
        assert dist[k] >= dist[k - 1] and energy[k] >= energy[k - 1]
        # speed is the integral of acceleration, distance the integral of speed (dt = 1 s)
        assert accel[k] == pytest.approx((speed[k] - speed[k - 1]) / 3.6, abs=0.01)
        step_km = (speed[k] + speed[k - 1]) / 2 / 3600
        assert dist[k] - dist[k - 1] == pytest.approx(step_km, abs=2e-4)
        if regen[k] > 1.0:
            assert amps[k] < 0  # energy flows back into the pack
            if amps[k - 1] >= 0:
                assert volts[k] >= volts[k - 1]
    assert sum(1 for r in regen if r > 1.0) > 100
    assert dist[-1] - dist[0] == pytest.approx(sum(speed) / 3600, rel=0.02)
    first, last = statistics.fmean(volts[:600]), statistics.fmean(volts[-600:])
    assert energy[-1] - energy[0] > 5 and last < first  # pack drained, voltage sagged
    assert lag1_autocorrelation(speed) > 0.95
    assert lag1_autocorrelation(column(series(ev, 10.0, 2000), "speed")) > 0.8


def test_ev_recharges_when_the_pack_runs_low() -> None:
    ev = DeviceFleet(1, seed=21).devices[0]
    rs = series(ev, 10.0, 4320)  # twelve hours, one reading per 10 s
    speed, amps = column(rs, "speed"), column(rs, "battery_current")
    charging = [k for k in range(len(rs)) if speed[k] == 0 and amps[k] < -100]
    run: list[int] = []
    longest: list[int] = []
    for k in charging:  # the longest run of consecutive charging readings
        run = [*run, k] if run and run[-1] == k - 1 else [k]
        longest = max(longest, run, key=len)
    assert len(longest) > 60  # parked and fast-charging for over ten minutes
    volts = column(rs, "battery_voltage")
    assert volts[longest[-1]] > volts[longest[0]] + 10  # the pack fills up again
    assert min(volts) > 300 and max(volts) < 420
    assert lag1_autocorrelation(column(rs, "battery_temperature")) > 0.9


def test_greenhouse_follows_the_day() -> None:
    gh = DeviceFleet(2, seed=8).devices[1]
    rs = series(gh, 300.0, 3 * 288)  # three days, one reading per 5 minutes
    hour = [((T0 + k * 300 - 6 * 3600) % 86400) / 3600 for k in range(len(rs))]
    light, temp = column(rs, "light_intensity"), column(rs, "temperature")
    noon = [k for k, h in enumerate(hour) if 11 <= h < 13]
    night = [k for k, h in enumerate(hour) if h < 4 or h >= 22]
    assert all(light[k] == 0 for k in night) and min(light[k] for k in noon) > 8000
    assert statistics.fmean(temp[k] for k in noon) > statistics.fmean(temp[k] for k in night) + 3
    ranges = {"temperature": (5, 40), "humidity": (20, 100), "soil_moisture": (10, 60),
              "light_intensity": (0, 60000), "co2_level": (300, 1500), "ph_level": (5, 7.5),
              "nutrient_level": (500, 1600), "growth_rate": (0, 4)}  # fmt: skip
    for name, (lo, hi) in ranges.items():
        values = column(rs, name)
        assert lo <= min(values) and max(values) <= hi, name
    for name in ("temperature", "humidity", "co2_level", "soil_moisture", "light_intensity"):
        assert lag1_autocorrelation(column(rs, name)) > 0.8, name
    assert max(abs(b - a) for a, b in itertools.pairwise(temp)) < 3.0
    height, leaves = column(rs, "plant_height"), column(rs, "leaf_count")
    assert all(b >= a for a, b in itertools.pairwise(height)) and height[-1] > height[0]
    assert all(b >= a for a, b in itertools.pairwise(leaves))
    soil = column(rs, "soil_moisture")
    rises = sum(b - a > 0.5 for a, b in itertools.pairwise(soil))
    assert rises > 5 and soil[-1] != soil[0]  # it dries out, then drip irrigation refills it


def test_pos_terminal_totals_and_ids() -> None:
    fleet = DeviceFleet(6, seed=4)
    tills = [d for d in fleet if d.device_type == "pos_terminal"]
    all_ids: list[str] = []
    for till in tills:
        rs = series(till, 7.0, 1500)
        ids = [str(r["transaction_id"]) for r in rs]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        numbers = [int(i.rsplit("-", 1)[1]) for i in ids]
        assert numbers == list(range(numbers[0], numbers[0] + len(ids)))
        all_ids += ids
        for r in rs:
            quantity, price = r["quantity"], r["unit_price"]
            assert isinstance(quantity, int) and isinstance(price, float)
            assert 1 <= quantity <= 50 and 0.5 < price < 200
            assert r["total_amount"] == round(quantity * price, 2)
        assert len({r["location"] for r in rs}) == 1
        segments = [r["customer_segment"] for r in rs]
        same = sum(a == b for a, b in itertools.pairwise(segments)) / len(rs)
        assert same > 0.5  # a customer's basket spans several line items
    assert len(set(all_ids)) == len(all_ids)


def test_clock_going_backwards_or_pausing_is_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    ev = DeviceFleet(1, seed=2).devices[0]
    assert ev.device_type == "ev_sensor"
    steps: list[float] = []
    advance = EvModel._advance

    def counted(model: EvModel, h: float) -> None:
        steps.append(h)
        advance(model, h)

    monkeypatch.setattr(EvModel, "_advance", counted)
    first = ev.next_reading(T0)
    again = ev.next_reading(T0 - 50)  # clock stepped back: no time passes
    assert again["distance"] == first["distance"]
    assert steps == []
    later = ev.next_reading(T0 + 10 * 86400)  # a long pause is capped, not simulated:
    assert len(steps) == 600 and sum(steps) == pytest.approx(600.0)  # 10 min in 1 s steps
    assert 0 <= float(later["speed"]) <= 130  # type: ignore[arg-type]
    assert float(later["distance"]) >= float(first["distance"])  # type: ignore[arg-type]


def test_every_submission_is_distinct() -> None:
    """No two of 2,000 submissions alike (their speed: bench/device_submissions.py)."""
    fleet = DeviceFleet(30, seed=6)
    n = 2000
    subs = [fleet.pick().make_submission(T0 + k * 0.1) for k in range(n)]
    assert len({(s.device_id, s.data) for s in subs}) == n
    assert len({s.signature for s in subs}) == n
