"""Payload schema of the IoT device types, and replay of recorded sensor CSVs.

A data directory holds ``ev_sensor*.csv``, ``greenhouse*.csv`` and
``pos_terminal*.csv`` files whose header names exactly the payload fields of
that type (the envelope columns ``device_id``, ``device_type`` and
``timestamp`` may also appear; the device replaces them). All files of a type
are read, in file-name order, into one table, which each device of that type
replays in order from a seeded start row, looping, with a small seeded jitter
on continuous measurements.
"""

from __future__ import annotations

import csv
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from utils.errors import KcStressError

log = logging.getLogger(__name__)

DEVICE_TYPES: tuple[str, ...] = ("ev_sensor", "greenhouse", "pos_terminal")
ENVELOPE_FIELDS: tuple[str, ...] = ("device_id", "device_type", "timestamp")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One payload field: its type and the relative jitter applied on replay.

    ``jitter`` is a relative standard deviation; 0 means the value is replayed
    verbatim (ids, categories, counts and cumulative counters). ``linked_to``
    makes a field take the jitter factor of another, so a total stays a total.
    """

    name: str
    kind: Literal["float", "int", "str"]
    decimals: int = 2
    jitter: float = 0.0
    linked_to: str = ""


def _f(name: str, decimals: int = 2, jitter: float = 0.005) -> FieldSpec:
    return FieldSpec(name, "float", decimals, jitter)


FIELD_SPECS: dict[str, tuple[FieldSpec, ...]] = {
    "ev_sensor": (
        _f("battery_voltage", jitter=0.002),  # V at the pack terminals
        _f("battery_current", jitter=0.01),  # A, > 0 discharging, < 0 charging
        _f("battery_temperature"),  # degC
        _f("motor_temperature"),  # degC
        _f("speed", jitter=0.01),  # km/h
        _f("acceleration", 3, jitter=0.01),  # m/s^2
        _f("regenerative_braking", jitter=0.01),  # kW being recovered
        _f("energy_consumption", 4, jitter=0.0),  # kWh drawn from the pack (counter)
        _f("distance", 4, jitter=0.0),  # km (odometer)
    ),
    "greenhouse": (
        _f("temperature"),  # degC
        _f("humidity"),  # % RH
        _f("soil_moisture"),  # % volumetric
        _f("light_intensity", 1, jitter=0.01),  # lux
        _f("co2_level", 1),  # ppm
        _f("ph_level", jitter=0.002),
        _f("nutrient_level", 1),  # ppm dissolved nutrients
        _f("plant_height", 3, jitter=0.0),  # cm, only grows
        FieldSpec("leaf_count", "int"),
        _f("growth_rate", 3, jitter=0.01),  # cm/day
    ),
    "pos_terminal": (
        FieldSpec("transaction_id", "str"),
        FieldSpec("product_code", "str"),
        FieldSpec("quantity", "int"),
        _f("unit_price", jitter=0.002),  # USD
        FieldSpec("total_amount", "float", 2, linked_to="unit_price"),  # USD
        FieldSpec("customer_segment", "str"),
        FieldSpec("location", "str"),
    ),
}


class DatasetError(KcStressError):
    """A data directory or CSV file cannot be replayed; names the file, line and column."""

    def __init__(self, path: Path, message: str, column: str = "", line: int = 0) -> None:
        where = (
            str(path)
            + (f" line {line}" if line else "")
            + (f" column {column!r}" if column else "")
        )
        super().__init__(f"{where}: {message}")
        self.path = path
        self.column = column
        self.line = line


@dataclass(frozen=True, slots=True)
class ReplayTable:
    """All recorded rows of one device type, parsed and typed."""

    device_type: str
    rows: tuple[dict[str, object], ...]
    files: tuple[Path, ...]


def load_datasets(data_dir: Path) -> dict[str, ReplayTable]:
    """Read every ``<device_type>*.csv`` in ``data_dir``; types without files are absent."""
    if not data_dir.is_dir():
        raise DatasetError(data_dir, "data directory does not exist")
    tables: dict[str, ReplayTable] = {}
    for device_type in DEVICE_TYPES:
        files = tuple(sorted(data_dir.glob(f"{device_type}*.csv")))
        if files:
            rows = tuple(row for path in files for row in read_csv(path, device_type))
            tables[device_type] = ReplayTable(device_type, rows, files)
            log.info("dataset %s: %d rows from %d file(s)", device_type, len(rows), len(files))
    if not tables:
        patterns = ", ".join(f"{t}*.csv" for t in DEVICE_TYPES)
        raise DatasetError(data_dir, f"no CSV files matching {patterns}")
    return tables


def read_csv(path: Path, device_type: str) -> list[dict[str, object]]:
    """Parse one CSV of ``device_type``; raise :class:`DatasetError` on any bad header or cell."""
    specs = FIELD_SPECS[device_type]
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = _read_rows(path, csv.reader(fh), specs)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(path, f"unreadable CSV: {exc}") from exc
    if not rows:
        raise DatasetError(path, "no data rows")
    return rows


def _read_rows(
    path: Path, reader: Iterator[list[str]], specs: tuple[FieldSpec, ...]
) -> list[dict[str, object]]:
    header = [name.strip() for name in next(reader, [])]
    _check_header(path, header, specs)
    rows: list[dict[str, object]] = []
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise DatasetError(
                path, f"row has {len(cells)} cells, header has {len(header)}", line=line
            )
        rows.append(_parse_row(path, line, dict(zip(header, cells, strict=True)), specs))
    return rows


def _check_header(path: Path, header: list[str], specs: tuple[FieldSpec, ...]) -> None:
    if not header:
        raise DatasetError(path, "empty file: no header row")
    wanted = [spec.name for spec in specs]
    for name in header:
        if header.count(name) > 1:
            raise DatasetError(path, "duplicate column", column=name, line=1)
        if name not in wanted and name not in ENVELOPE_FIELDS:
            raise DatasetError(path, f"unknown column (expected {', '.join(wanted)})", name, 1)
    missing = [name for name in wanted if name not in header]
    if missing:
        raise DatasetError(path, f"missing column(s): {', '.join(missing)}", missing[0], 1)


def _parse_row(
    path: Path, line: int, raw: dict[str, str], specs: tuple[FieldSpec, ...]
) -> dict[str, object]:
    row: dict[str, object] = {}
    for spec in specs:
        text = raw[spec.name].strip()
        if not text:
            raise DatasetError(path, "empty value", spec.name, line)
        try:
            row[spec.name] = _convert(text, spec.kind)
        except ValueError as exc:
            raise DatasetError(
                path, f"{text!r} is not a valid {spec.kind}", spec.name, line
            ) from exc
    return row


def _convert(text: str, kind: str) -> object:
    if kind == "str":
        return text
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    if kind == "int":
        if not number.is_integer():
            raise ValueError(text)
        return int(number)
    return number


class ReplaySource:
    """Replays a table in order from a seeded start row, looping, with seeded jitter.

    Ids are never jittered. On the second and later passes over the table a
    ``-L<pass>`` suffix is added to ``transaction_id`` so a looped replay never
    repeats an id.
    """

    def __init__(self, table: ReplayTable, rng: random.Random) -> None:
        self.table = table
        self.rng = rng
        self.specs = FIELD_SPECS[table.device_type]
        self.start = rng.randrange(len(table.rows))
        self.count = 0

    def values(self, now: float) -> dict[str, object]:
        rows = self.table.rows
        row = rows[(self.start + self.count) % len(rows)]
        loop = self.count // len(rows)
        self.count += 1
        out = self._jitter(row)
        if loop and "transaction_id" in out:
            out["transaction_id"] = f"{out['transaction_id']}-L{loop}"
        return out

    def _jitter(self, row: dict[str, object]) -> dict[str, object]:
        out: dict[str, object] = {}
        factors: dict[str, float] = {}
        for spec in self.specs:
            value = row[spec.name]
            if spec.kind == "float" and isinstance(value, float):
                factor = 1.0
                if spec.linked_to:
                    factor = factors.get(spec.linked_to, 1.0)
                elif spec.jitter:
                    factor = 1.0 + spec.jitter * max(-3.0, min(3.0, self.rng.gauss(0.0, 1.0)))
                factors[spec.name] = factor
                value = round(value * factor, spec.decimals) if factor != 1.0 else value
            out[spec.name] = value
        return out
