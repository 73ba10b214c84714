"""Where each setting's value was written: a command-line option, an environment variable or
a key of the scenario file. A bad value is reported under that name (``--rate``,
``IOT_DEVICE_COUNT``, ``scenarios/x.toml: duration``), never under an option that does not
exist."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from utils.errors import ConfigError
from utils.workload_names import RATE_FIELDS, canonical_workload, check_rate

__all__ = ["Scenario", "SettingNames", "read_scenario"]

#: fields whose given value is never repeated in a message
SECRET_FIELDS = frozenset({"private_key"})


@dataclass
class Scenario:
    """A scenario file's values as flat Settings keys, and each key as written in the file."""

    values: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # key in ``values`` -> "FILE: key"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("--scenario", f"no such file: {path}") from None
    except IsADirectoryError:
        raise ConfigError("--scenario", f"{path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError("--scenario", f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("--scenario", f"{path}: invalid TOML: {exc}") from None


def reason_of(exc: ConfigError, where: str) -> str:
    """What ``exc`` says, without the name it was raised under."""
    text = str(exc).removeprefix(f"{exc.setting}: ")
    return text.removeprefix(f"{where}: ")


def read_scenario(path: Path) -> Scenario:
    """A scenario TOML as flat Settings keys (its [rates] table mapped to rate fields), every
    [rates] rate checked under its file and key (a profile is checked, under the same name,
    by :func:`utils.load.profiles.apply_profiles`)."""
    data = _read_toml(path)
    rates = data.pop("rates", {})
    if not isinstance(rates, dict):
        raise ConfigError(f"{path}: rates", "[rates] must be a table")
    data.pop("capacity", None)  # the capacity search's own table (utils.run.capacity_cli)
    thresholds = data.pop("thresholds", None)
    scenario = Scenario(data, {key: f"{path}: {key}" for key in data})
    if thresholds is not None:  # NAME = "<1.5s" or NAME = ["<1.5s", ...] (k6's form)
        scenario.values["thresholds"] = threshold_texts(thresholds, f"{path}: [thresholds]")
        scenario.names["thresholds"] = f"{path}: [thresholds]"
    profiles: dict[str, Any] = {}
    for name, value in rates.items():
        where = f"{path}: [rates] {name}"
        workload = canonical_workload(name, where)
        if isinstance(value, int | float) and not isinstance(value, bool):
            scenario.values[RATE_FIELDS[workload]] = check_rate(value, where)
        else:  # a profile, turned into a peak rate by utils.load.profiles
            profiles[workload] = value
        scenario.names[RATE_FIELDS[workload]] = where
    if profiles:
        scenario.values["rate_profiles"] = profiles
        scenario.names["rate_profiles"] = f"{path}: [rates]"
    return scenario


def threshold_texts(table: Any, where: str) -> list[str]:
    """A scenario's ``[thresholds]`` as ``NAME OP VALUE`` texts (checked, with the known
    figures, by utils.observe.thresholds before the run); ConfigError for another shape."""
    if not isinstance(table, dict):
        raise ConfigError(where, 'must be a table of NAME = "<1.5s" or NAME = ["<1.5s", ...]')
    texts = []
    for name, value in table.items():
        if isinstance(value, dict):  # a dotted key: totals.success = ">=99.5%"
            texts += threshold_texts({f"{name}.{k}": v for k, v in value.items()}, where)
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                raise ConfigError(f"{where} {name}",
                                  f'a threshold is a string such as "<1.5s", got {item!r}')
            texts.append(f"{name}{item.strip()}")
    return texts


def _aliases(info: FieldInfo) -> list[str]:
    alias = info.validation_alias
    return [c for c in alias.choices if isinstance(c, str)] \
        if isinstance(alias, AliasChoices) else []


@dataclass
class SettingNames:
    """For each setting, the name its value was given under (CLI over env over scenario, the
    order the values are taken in). Plain strings: a copy compares equal."""

    choices: dict[str, list[str]]  # field -> every name it is read under, lower case
    env: dict[str, str]  # field -> its documented environment variable
    cli: dict[str, str] = field(default_factory=dict)  # field given -> option written
    options: dict[str, str] = field(default_factory=dict)  # field -> its option, if any
    scenario: Scenario = field(default_factory=Scenario)

    @classmethod
    def of(cls, fields: dict[str, FieldInfo], cli: dict[str, str], options: dict[str, str],
           scenario: Scenario | None) -> SettingNames:
        choices = {name: [n.lower() for n in [name, *_aliases(info)]]
                   for name, info in fields.items()}
        env = {name: upper[0] for name, info in fields.items()
               if (upper := [n for n in _aliases(info) if n.isupper()])}
        return cls(choices, env, cli, options, scenario or Scenario())

    def name(self, setting: str) -> str:
        """The option, environment variable or ``FILE: key`` ``setting`` came from."""
        if setting in self.cli:
            return self.cli[setting]
        choices = self.choices.get(setting, [setting.lower()])
        for choice in choices:  # pydantic takes the first alias found
            env = next((k for k in os.environ if k.lower() == choice), None)
            if env is not None:
                return env
        written = {key.lower(): name for key, name in self.scenario.names.items()}
        for choice in choices:
            if choice in written:
                return written[choice]
        # left at its default: its option, else its environment variable
        return self.options.get(setting) or self.env.get(setting) or setting

    def error(self, exc: ValidationError) -> ConfigError:
        """The first problem of ``exc`` as one line under the name the user wrote."""
        err = exc.errors()[0]
        setting = str(err["loc"][0]) if err["loc"] else "settings"
        return ConfigError(self.name(setting), _explain(err, setting in SECRET_FIELDS))


def _explain(err: ErrorDetails, secret: bool) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown setting"
    text = err["msg"].removeprefix("Value error, ")
    text = text[:1].lower() + text[1:]
    if err["msg"].startswith("Value error") or secret or "input" not in err:
        return text
    return f"{text}, got {err['input']!r}"
