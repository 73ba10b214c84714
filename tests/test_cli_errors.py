"""Errors name what the user gave (issue 19, point 9): a bad value is reported in one line,
exit status 2, no traceback, under the option, environment variable or scenario file and
key it was written as; never under an option that does not exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_env, main_cmd

KNOWN = "(known: data_pipeline, iot_registration, lending_app, merchant_app, payment_app)"
NOT_A_NUMBER = "input should be a valid number, unable to parse string as a number"
NOT_AN_INTEGER = "input should be a valid integer, unable to parse string as an integer"


def refused(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """The one line ``python main.py ARGS`` fails with (exit 2, nothing else on stderr)."""
    proc = subprocess.run(main_cmd(*args), capture_output=True, text=True, timeout=120,
                          env=clean_env(**env), cwd=cwd)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def scenario(tmp_path: Path, text: str) -> Path:
    """scenarios/steady.toml with ``text`` appended to its top (before [rates])."""
    path = tmp_path / "mine.toml"
    path.write_text(text + "\n" + (REPO / "scenarios" / "steady.toml").read_text()
                    .replace("duration = 300\n", ""))
    return path


CASES: list[tuple[str, list[str], dict[str, str], str]] = [
    ("mix", ["capacity", "--mix", "foo=1"], {}, f"error: --mix: unknown workload 'foo' {KNOWN}"),
    ("mix-weight", ["capacity", "--mix", "payment=x"], {},
     "error: --mix: 'payment=x': weight 'x' is not a number"),
    ("rate", ["--rate", "payment=abc"], {}, "error: --rate: 'abc': rate 'abc' is not a number"),
    ("rate-name", ["--rate", "foo=1"], {}, f"error: --rate: unknown workload 'foo' {KNOWN}"),
    ("rpc-url", ["--rpc-url", "foo"], {}, "error: --rpc-url: not an http(s) URL: 'foo'"),
    ("rpc-env", [], {"RPC_HTTP_URL": "foo"}, "error: RPC_HTTP_URL: not an http(s) URL: 'foo'"),
    ("no-key", ["--rpc-url", "http://127.0.0.1:9"], {},
     "error: PRIVATE_KEY: required with --rpc-url (the funder's key)"),
    ("bad-key", [], {"PRIVATE_KEY": "zz-secret"},
     "error: PRIVATE_KEY: must be 32 bytes in hex (64 hex digits)"),
    ("device-count", [], {"IOT_DEVICE_COUNT": "abc"},
     f"error: IOT_DEVICE_COUNT: {NOT_AN_INTEGER}, got 'abc'"),
    ("port-env", [], {"HEALTHCHECK_PORT": "99999"},
     "error: HEALTHCHECK_PORT: input should be less than or equal to 65535, got '99999'"),
    ("duration", ["--duration", "-1"], {},
     "error: --duration: input should be greater than or equal to 0, got -1.0"),
    ("no-scenario", ["--scenario", "nope.toml"], {}, "error: --scenario: no such file: nope.toml"),
    ("out-env", [], {"LOG_DIR": "/etc/passwd/logs"},
     "error: LOG_DIR: /etc/passwd is not a directory (for /etc/passwd/logs)"),
]


@pytest.mark.parametrize(("args", "env", "line"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_bad_value_names_what_the_user_wrote(args: list[str], env: dict[str, str],
                                               line: str, tmp_path: Path) -> None:
    port = [] if "HEALTHCHECK_PORT" in env else ["--port", "0"]  # else --port wins over it
    assert refused([*args, *port], env, tmp_path) == line


def test_a_bad_scenario_value_names_the_file_and_key(tmp_path: Path) -> None:
    path = scenario(tmp_path, 'duration = "abc"')
    assert refused(["--scenario", str(path), "--port", "0"], {}, tmp_path) == \
        f"error: {path}: duration: {NOT_A_NUMBER}, got 'abc'"
    path.write_text("seed = 1\nbogus = 2\n")
    assert refused(["--scenario", str(path), "--port", "0"], {}, tmp_path) == \
        f"error: {path}: bogus: unknown setting"


def test_a_bad_scenario_rate_names_the_file_and_its_rates_key(tmp_path: Path) -> None:
    path = tmp_path / "rates.toml"
    path.write_text("[rates]\npayment = -2\n")
    assert refused(["--scenario", str(path), "--port", "0"], {}, tmp_path) == \
        f"error: {path}: [rates] payment: rate must be a finite number >= 0, got -2"
    path.write_text('[rates]\nlending = "ramp:x"\n')
    assert refused(["--scenario", str(path), "--port", "0"], {}, tmp_path) == \
        f"error: {path}: [rates] lending: 'ramp:x': expected ramp:FROM-TO:SECONDS"
    path.write_text("[capacity]\nfactor = 0.5\n")
    assert refused(["capacity", "--scenario", str(path), "--port", "0"], {}, tmp_path) == \
        f"error: {path}: [capacity] factor: must be > 1"


def test_the_cli_wins_over_the_environment_and_is_named(tmp_path: Path) -> None:
    """IOT_DEVICE_COUNT is fine; HEALTHCHECK_PORT is bad but --port overrides it: the bad
    value left is the option's."""
    line = refused(["--port", "0", "--rpc-url", "ftp://x"],
                   {"HEALTHCHECK_PORT": "x", "RPC_HTTP_URL": "http://127.0.0.1:9"}, tmp_path)
    assert line == "error: --rpc-url: not an http(s) URL: 'ftp://x'"
