"""Replay of recorded sensor CSVs: order, looping, jitter, and clear errors for bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from utils.iot.datasets import FIELD_SPECS, DatasetError, load_datasets, read_csv
from utils.iot.devices import DeviceFleet, SimulatedDevice, fleet_tag

DATA = Path(__file__).parent / "data" / "iot"
T0 = 1_717_236_000.0
KEY_FIELD = {
    "ev_sensor": "distance",
    "greenhouse": "plant_height",
    "pos_terminal": "transaction_id",
}


def readings(device: SimulatedDevice, n: int) -> list[dict[str, object]]:
    return [device.next_reading(T0 + k) for k in range(n)]


def assert_replays(rows: list[dict[str, object]], got: list[dict[str, object]], dtype: str) -> int:
    """``got`` is ``rows`` in order from some start row, looping; returns how many were jittered."""
    key = KEY_FIELD[dtype]
    start = [str(r[key]) for r in rows].index(str(got[0][key]))
    jittered = 0
    for k, reading in enumerate(got):
        row = rows[(start + k) % len(rows)]
        for spec in FIELD_SPECS[dtype]:
            want, value = row[spec.name], reading[spec.name]
            if spec.name == "transaction_id":
                loop = k // len(rows)  # passes counted from the start row
                assert value == (want if loop == 0 else f"{want}-L{loop}")
            elif spec.kind != "float" or (spec.jitter == 0 and not spec.linked_to):
                assert value == want, spec.name
            else:
                assert isinstance(value, float) and isinstance(want, float)
                bound = 3.5 * max(spec.jitter, 0.002) * abs(want) + 10.0**-spec.decimals
                assert abs(value - want) <= bound, (spec.name, want, value)
                jittered += value != want
    return jittered


@pytest.mark.parametrize("index", [0, 1, 2])
def test_sample_files_replay_in_order_with_jitter(index: int) -> None:
    device = DeviceFleet(3, seed=10, data_dir=DATA).devices[index]
    dtype = device.device_type
    rows = read_csv(DATA / f"{dtype}_sample.csv", dtype)
    got = readings(device, 2 * len(rows) + 5)  # loops over the file twice
    assert assert_replays(rows, got, dtype) > len(rows)
    assert got[0]["device_id"] == device.device_id and got[3]["timestamp"] == T0 + 3


def test_replay_is_seeded_and_keeps_totals() -> None:
    runs = [
        [r for d in DeviceFleet(6, seed=3, data_dir=DATA) for r in readings(d, 30)]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    other = [r for d in DeviceFleet(6, seed=4, data_dir=DATA) for r in readings(d, 30)]
    assert other != runs[0]
    for r in runs[0]:
        if r["device_type"] == "pos_terminal":
            quantity, price, total = r["quantity"], r["unit_price"], r["total_amount"]
            assert isinstance(quantity, int) and isinstance(price, float)
            assert total == pytest.approx(quantity * price, abs=0.005 * (quantity + 1))
    ids = [r["transaction_id"] for r in runs[0] if r["device_type"] == "pos_terminal"]
    assert len(set(ids[:30])) == 30  # the 24-row file looped without repeating an id


def test_types_without_files_stay_synthetic(tmp_path: Path) -> None:
    shutil.copy(DATA / "greenhouse_sample.csv", tmp_path / "greenhouse_a.csv")
    fleet = DeviceFleet(3, seed=1, data_dir=tmp_path)
    rows = read_csv(tmp_path / "greenhouse_a.csv", "greenhouse")
    heights = {r["plant_height"] for r in rows}
    assert fleet.devices[1].next_reading(T0)["plant_height"] in heights
    ev = fleet.devices[0].next_reading(T0)
    assert ev["distance"] not in {r["distance"] for r in read_csv(DATA / "ev_sensor_sample.csv",
                                                                    "ev_sensor")}  # fmt: skip


def test_files_of_a_type_are_joined_in_name_order(tmp_path: Path) -> None:
    lines = (DATA / "pos_terminal_sample.csv").read_text().splitlines()
    header, body = lines[0], lines[1:]
    (tmp_path / "pos_terminal_2.csv").write_text("\n".join([header, *body[10:]]) + "\n")
    # envelope columns are allowed (and replaced by the device's own)
    first = ["device_id,timestamp," + header] + [f"old-dev,1,{line}" for line in body[:10]]
    (tmp_path / "pos_terminal_1.csv").write_text("\n".join(first) + "\n")
    table = load_datasets(tmp_path)["pos_terminal"]
    assert [p.name for p in table.files] == ["pos_terminal_1.csv", "pos_terminal_2.csv"]
    assert table.rows == tuple(read_csv(DATA / "pos_terminal_sample.csv", "pos_terminal"))
    reading = DeviceFleet(3, seed=2, data_dir=tmp_path).devices[2].next_reading(T0)
    assert reading["device_id"] == f"pos_terminal-{fleet_tag(2)}-0002"
    assert reading["timestamp"] == T0


GOOD = "temperature,humidity,soil_moisture,light_intensity,co2_level,ph_level,nutrient_level,plant_height,leaf_count,growth_rate"  # noqa: E501
GOOD_ROW = "21.5,70.1,33.2,20000.0,500.0,6.1,900.0,40.5,12,1.5"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (GOOD.replace(",humidity", "") + "\n" + GOOD_ROW, ["greenhouse_bad.csv", "'humidity'"]),
        (GOOD + ",wind\n" + GOOD_ROW + ",3", ["greenhouse_bad.csv", "unknown", "'wind'"]),
        (GOOD + "\n" + GOOD_ROW.replace("70.1", "wet"), ["line 2", "'humidity'", "'wet'"]),
        (GOOD + "\n" + GOOD_ROW + "\n" + GOOD_ROW.replace(",12,", ",12.5,"), ["line 3", "leaf"]),
        (GOOD + "\n" + GOOD_ROW.replace("500.0", " "), ["line 2", "'co2_level'", "empty"]),
        (GOOD + "\n" + GOOD_ROW.replace("6.1,", "nan,"), ["'ph_level'", "'nan'"]),
        (GOOD + "\n" + GOOD_ROW + ",7", ["line 2", "11 cells, header has 10"]),
        (GOOD + ",temperature\n" + GOOD_ROW + ",1", ["duplicate", "'temperature'"]),
        (GOOD + "\n", ["greenhouse_bad.csv", "no data rows"]),
        ("", ["greenhouse_bad.csv", "no header"]),
    ],
)
def test_bad_csv_names_file_and_column(tmp_path: Path, text: str, fragments: list[str]) -> None:
    (tmp_path / "greenhouse_bad.csv").write_text(text)
    with pytest.raises(DatasetError) as caught:
        DeviceFleet(3, seed=1, data_dir=tmp_path)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert caught.value.path == tmp_path / "greenhouse_bad.csv"


def test_good_row_of_the_error_cases_parses(tmp_path: Path) -> None:
    (tmp_path / "greenhouse_ok.csv").write_text(GOOD + "\n" + GOOD_ROW + "\n")
    (row,) = load_datasets(tmp_path)["greenhouse"].rows
    assert row["leaf_count"] == 12 and row["temperature"] == 21.5


def test_bad_data_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        DeviceFleet(3, seed=1, data_dir=tmp_path / "missing")
    (tmp_path / "readme.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match=r"ev_sensor\*\.csv"):
        DeviceFleet(3, seed=1, data_dir=tmp_path)
