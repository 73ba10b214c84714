"""Workload names and the rates given for them: ``payment=20`` on the command line (``--rate``,
``--mix``) or in a scenario's ``[rates]`` table. Every error names where the rate was
written (``where``), never an option the user did not use."""

from __future__ import annotations

from typing import Any

from utils.errors import ConfigError

__all__ = ["NON_TX_WORKLOADS", "RATE_ALIASES", "RATE_FIELDS", "canonical_workload",
           "check_rate", "parse_rate"]

#: workload name -> the Settings field holding its rate (steps per second)
RATE_FIELDS: dict[str, str] = {
    "payment_app": "payment_rate",
    "merchant_app": "merchant_rate",
    "lending_app": "lending_rate",
    "iot_registration": "iot_registration_rate",
    "data_pipeline": "iot_data_submission_rate",
}
#: workloads whose steps are not chain transactions (kept out of transaction totals)
NON_TX_WORKLOADS = frozenset({"iot_registration"})
RATE_ALIASES: dict[str, str] = {
    "payment": "payment_app",
    "merchant": "merchant_app",
    "lending": "lending_app",
    "iot": "data_pipeline",
    "iot_data": "data_pipeline",
    "registration": "iot_registration",
}


def canonical_workload(name: str, where: str = "--rate") -> str:
    """The workload's canonical name, or ConfigError (naming ``where``) for an unknown one."""
    key = name.strip().lower().replace("-", "_")
    key = RATE_ALIASES.get(key, key)
    if key not in RATE_FIELDS:
        known = ", ".join(sorted(RATE_FIELDS))
        raise ConfigError(where, f"unknown workload {name!r} (known: {known})")
    return key


def check_rate(value: Any, where: str, what: str = "rate") -> float:
    """``value`` as a finite number >= 0, or ConfigError naming ``where``."""
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        rate = float(value)
    except (TypeError, ValueError):
        raise ConfigError(where, f"{what} {value!r} is not a number") from None
    if not rate >= 0 or rate == float("inf"):
        raise ConfigError(where, f"{what} must be a finite number >= 0, got {value!r}")
    return rate


def parse_rate(spec: str, where: str = "--rate") -> tuple[str, float]:
    """``NAME=TX_PER_SECOND`` -> (canonical name, rate)."""
    name, sep, value = spec.partition("=")
    if not sep:
        raise ConfigError(where, f"expected WORKLOAD=TX_PER_SECOND, got {spec!r}")
    workload = canonical_workload(name, where)
    return workload, check_rate(value, where, f"{spec!r}: rate")
