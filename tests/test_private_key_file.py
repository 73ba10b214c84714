"""PRIVATE_KEY_FILE / --private-key-file: the funder's key read from a file (e.g. the
funder.key a dev chain keeps in its data dir), never quoted in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from utils.devchain.datadir import write_key_file
from utils.errors import ConfigError
from utils.settings import load_settings


def test_the_key_comes_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRIVATE_KEY", raising=False)
    key = bytes(range(1, 33))
    write_key_file(tmp_path / "funder.key", key)
    settings = load_settings({"private_key_file": tmp_path / "funder.key"})
    assert settings.private_key is not None
    assert settings.private_key.get_secret_value() == key.hex()
    assert key.hex() not in repr(settings) + str(settings.public_dict())


def test_a_bad_or_missing_file_or_both_keys_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRIVATE_KEY", raising=False)
    secret = "zz" * 32
    (tmp_path / "bad.key").write_text(secret)
    with pytest.raises(ConfigError, match="--private-key-file: must be 32 bytes") as bad:
        load_settings({"private_key_file": tmp_path / "bad.key"})
    assert secret not in str(bad.value)
    with pytest.raises(ConfigError, match=r"cannot read .*none\.key"):
        load_settings({"private_key_file": tmp_path / "none.key"})
    write_key_file(tmp_path / "good.key", bytes(32))
    monkeypatch.setenv("PRIVATE_KEY", "11" * 32)
    with pytest.raises(ConfigError, match="PRIVATE_KEY or PRIVATE_KEY_FILE, not both"):
        load_settings({"private_key_file": tmp_path / "good.key"})
