"""Run settings: CLI over environment over scenario file over defaults.

The environment names of the original system keep working (RPC_HTTP_URL,
PRIVATE_KEY, IOT_DEVICE_COUNT, ...). A scenario is a TOML file with the same
keys as the fields below, plus an optional ``[rates]`` table keyed by
workload name.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from utils.setting_sources import SettingNames, read_scenario
from utils.workload_names import NON_TX_WORKLOADS as NON_TX_WORKLOADS
from utils.workload_names import RATE_ALIASES as RATE_ALIASES
from utils.workload_names import RATE_FIELDS as RATE_FIELDS
from utils.workload_names import canonical_workload as canonical_workload
from utils.workload_names import parse_rate as parse_rate

#: the scenario file's values while Settings is being built (lowest-priority source)
_SCENARIO: ContextVar[dict[str, Any] | None] = ContextVar("kcstress_scenario", default=None)


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Everything a run needs to know, validated once at start."""

    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True, case_sensitive=False)
    _sources: SettingNames | None = PrivateAttr(None)

    duration: float = Field(0.0, ge=0, description="seconds; 0 = until stopped")
    rpc_url: str | None = Field(None, validation_alias=_env("rpc_url", "RPC_HTTP_URL"))
    chain_id: int | None = Field(None, gt=0, validation_alias=_env("chain_id", "CHAIN_ID"))
    private_key: SecretStr | None = Field(
        None, validation_alias=_env("private_key", "PRIVATE_KEY"), repr=False
    )
    private_key_file: Path | None = Field(
        None, validation_alias=_env("private_key_file", "PRIVATE_KEY_FILE"),
        description="a file holding the funder's key in hex (e.g. the funder.key of python -m "
        "utils.devchain), read when PRIVATE_KEY is unset",
    )
    contract_address: str | None = Field(
        None, validation_alias=_env("contract_address", "MVP_IOT_PROCESSOR_ADDRESS")
    )
    contract_abi: Path | None = Field(
        None, validation_alias=_env("contract_abi", "MVP_IOT_PROCESSOR_ABI")
    )
    contract: Literal["stylus", "evm"] = Field(
        "stylus", validation_alias=_env("contract", "KCSTRESS_CONTRACT")
    )
    dapp: Literal["stylus", "evm", "transfers"] | None = Field(
        None, validation_alias=_env("dapp", "KCSTRESS_DAPP"),
        description="payment/merchant/lending on the dApp contracts as Stylus programs or "
        "Solidity twins, or plain value transfers; default: stylus on a chain with Stylus",
    )
    stylus_cache: bool = Field(
        True, validation_alias=_env("stylus_cache", "KCSTRESS_STYLUS_CACHE"),
        description="put the run's Stylus programs in ArbOS's program cache when the funder "
        "may (chain owner or cache manager), as a chain team would; false: every call pays "
        "Nitro's full program init gas",
    )
    seed: int | None = Field(None, validation_alias=_env("seed", "KCSTRESS_SEED"))
    iot_commit: Literal["record", "batch", "inputbox"] = Field(
        "record", validation_alias=_env("iot_commit", "KCSTRESS_IOT_COMMIT"),
        description="record: one submitResult per record; batch: one commitBatch (Merkle "
        "root) per up to iot_batch_size records; inputbox: one Cartesi InputBox.addInput "
        "per up to inputbox_batch records",
    )
    device_auth: Literal["ed25519", "jws"] = Field(
        "ed25519", validation_alias=_env("device_auth", "KCSTRESS_DEVICE_AUTH"),
        description="how devices sign submissions: ed25519 signatures, or ES256 compact JWS "
        "tokens with a per-device counter (P-256 keys, as Milestone 2's devices)",
    )
    inputbox_batch: int = Field(
        1, ge=1, le=4096, validation_alias=_env("inputbox_batch", "KCSTRESS_INPUTBOX_BATCH"),
        description="records per InputBox input at most (as many as fit in 64 KiB); the oldest "
        "waits iot_batch_wait seconds for the rest",
    )
    cartesi_input_box_address: str | None = Field(
        None, validation_alias=_env("cartesi_input_box_address", "CARTESI_INPUT_BOX_ADDRESS"),
        description="the InputBox (Cartesi Rollups v2) to add inputs to; default: deploy "
        "@cartesi/rollups 2.2.0's",
    )
    cartesi_app_address: str | None = Field(
        None, validation_alias=_env("cartesi_app_address", "CARTESI_APP_ADDRESS"),
        description="the application the inputs are for; default: deploy @cartesi/rollups "
        "2.2.0's Authority and an Application naming the InputBox, as a Cartesi node reads it",
    )
    iot_batch_size: int = Field(
        1024, ge=1, le=65_536, validation_alias=_env("iot_batch_size", "KCSTRESS_IOT_BATCH_SIZE")
    )
    iot_batch_wait: float = Field(
        1.0, ge=0, validation_alias=_env("iot_batch_wait", "KCSTRESS_IOT_BATCH_WAIT"),
        description="seconds the oldest record waits for its batch to fill",
    )
    l1_base_fee_gwei: float = Field(
        50.0, ge=0, validation_alias=_env("l1_base_fee_gwei", "KCSTRESS_L1_BASE_FEE_GWEI"),
        description="embedded chain: L1 base fee estimate it charges calldata with, as Nitro "
        "(default Nitro's InitialPricePerUnitWei, 50 gwei; 0: L1 data cost not modelled)",
    )
    finality_sample: float = Field(
        0.1, ge=0, le=1,
        validation_alias=_env("finality_sample", "KCSTRESS_FINALITY_SAMPLE"),
        description="share of the included transactions followed to batch posted and L1 "
        "confirmed (chains with NodeInterface; 0: none)",
    )
    finality_confirmations: int = Field(
        1, ge=1, validation_alias=_env("finality_confirmations",
                                       "KCSTRESS_FINALITY_CONFIRMATIONS"),
        description="parent-chain confirmations of its batch that make a transaction "
        "'l1_confirmed'",
    )
    finality_wait: float = Field(
        10.0, ge=0, validation_alias=_env("finality_wait", "KCSTRESS_FINALITY_WAIT"),
        description="seconds the end of a run waits for sampled transactions still pending "
        "a finality stage",
    )
    out: Path = Field(Path("logs"), validation_alias=_env("out", "LOG_DIR"))
    host: str = Field("127.0.0.1", validation_alias=_env("host", "HEALTHCHECK_HOST"))
    port: int = Field(8000, ge=0, le=65535, validation_alias=_env("port", "HEALTHCHECK_PORT"))
    interval: float = Field(10.0, gt=0, validation_alias=_env("interval", "KPI_INTERVAL_SEC"))

    payment_rate: float = Field(2.0, ge=0)
    merchant_rate: float = Field(1.0, ge=0)
    lending_rate: float = Field(1.0, ge=0, description="1 origination + 1 repayment per 2 s")
    iot_registration_rate: float = Field(
        0.1, ge=0, validation_alias=_env("iot_registration_rate", "IOT_REGISTRATION_RATE")
    )
    iot_data_submission_rate: float = Field(
        0.2, ge=0, validation_alias=_env("iot_data_submission_rate", "IOT_DATA_SUBMISSION_RATE")
    )
    iot_device_count: int = Field(
        10, ge=0, le=100_000, validation_alias=_env("iot_device_count", "IOT_DEVICE_COUNT")
    )
    iot_data_dir: Path | None = Field(None, validation_alias=_env("iot_data_dir", "IOT_DATA_DIR"))
    lcore_node_url: str | None = Field(
        None, validation_alias=_env("lcore_node_url", "LCORE_NODE_URL")
    )
    lcore_db_path: Path | None = Field(
        None, validation_alias=_env("lcore_db_path", "LCORE_DB_PATH"),
        description="default: <run dir>/lcore.db",
    )
    lcore_key_dir: Path | None = Field(
        None, validation_alias=_env("lcore_key_dir", "LCORE_KEY_DIR"),
        description="default: <out>/keys",
    )
    arrival: Literal["constant", "poisson"] = "constant"
    #: workload -> rate profile (a string such as "ramp:10-200:60", or a [rates] table), read
    #: by utils.load.profiles; the workload's rate field then holds the profile's peak
    rate_profiles: dict[str, str | dict[str, Any]] = Field(default_factory=dict)

    target_success_rate: float = Field(
        0.95, ge=0, le=1, validation_alias=_env("target_success_rate", "TARGET_SUCCESS_RATE")
    )
    target_max_latency_sec: float = Field(
        5.0, gt=0, validation_alias=_env("target_max_latency_sec", "TARGET_MAX_LATENCY_SEC")
    )
    target_daily_entries: int = Field(
        10_000, ge=0, validation_alias=_env("target_daily_entries", "TARGET_DAILY_ENTRIES")
    )
    #: the share of the firings a profile asked for that the scheduler may miss
    target_max_missed_share: float = Field(
        0.01, ge=0, le=1,
        validation_alias=_env("target_max_missed_share", "TARGET_MAX_MISSED_SHARE"),
    )
    #: thresholds on any figure ("payment_app.p95<1.5s", "p95<=+10%"): a scenario's
    #: [thresholds] and every --threshold, parsed before the run by utils.observe.thresholds
    #: and judged at its end into the run's verdict
    thresholds: list[str] = Field(default_factory=list)
    #: a finished run folder the relative thresholds ("p95<=+10%") compare with
    baseline: Path | None = None

    default_gas_limit: int | None = Field(
        None, gt=0, validation_alias=_env("default_gas_limit", "DEFAULT_GAS_LIMIT")
    )
    fixed_gas_price_wei: int | None = Field(
        None, ge=0, validation_alias=_env("fixed_gas_price_wei", "FIXED_GAS_PRICE_WEI")
    )
    tx_timeout: float = Field(60.0, gt=0, description="seconds to wait for a receipt")
    drain_timeout: float = Field(30.0, ge=0, description="seconds to drain in-flight work")
    chain_grace: float = Field(
        30.0, gt=0, validation_alias=_env("chain_grace", "KCSTRESS_CHAIN_GRACE"),
        description="seconds the chain may stay silent before the run ends as chain unavailable",
    )
    health_reject_share: float = Field(
        0.5, gt=0, le=1, description="/health turns 503 when this share of recent tx is rejected",
    )
    health_reject_window: float = Field(
        10.0, gt=0, description="seconds of transactions /health judges refusals over",
    )
    funding_horizon: float = Field(
        3600.0, gt=0, description="seconds of load to fund when duration is 0"
    )
    block_time: float = Field(0.25, ge=0, description="local chain block interval (anvil: 1)")
    chain_history_blocks: int = Field(
        512, ge=0, validation_alias=_env("chain_history_blocks", "KCSTRESS_CHAIN_HISTORY_BLOCKS"),
        description="embedded chain: recent blocks whose history it keeps (older pruned; 0 = all)",
    )
    chain_state_blocks: int = Field(
        128, ge=0, description="embedded chain: recent blocks whose state it keeps (0 = all)",
    )
    parent_base_fee_gwei: float | None = Field(
        None, ge=0, validation_alias=_env("parent_base_fee_gwei", "KCSTRESS_PARENT_BASE_FEE_GWEI"),
        description="embedded chain: its emulated parent chain's base fee, what each batch "
        "costs its batch poster per L1 gas (default 1: go-ethereum's InitialBaseFee)",
    )
    batch_max_delay: float | None = Field(
        None, ge=0, validation_alias=_env("batch_max_delay", "KCSTRESS_BATCH_MAX_DELAY"),
        description="embedded chain: seconds its batch poster waits at most before posting a "
        "batch (default 3; Nitro: 1 h)",
    )
    batch_max_size: int | None = Field(
        None, gt=0, validation_alias=_env("batch_max_size", "KCSTRESS_BATCH_MAX_SIZE"),
        description="embedded chain: brotli-compressed bytes at which its batch poster posts "
        "a batch at once (default 100,000, Nitro's MaxCalldataBatchSize)",
    )
    parent_block_time: float | None = Field(
        None, gt=0, validation_alias=_env("parent_block_time", "KCSTRESS_PARENT_BLOCK_TIME"),
        description="embedded chain: seconds per block of its emulated parent chain (default "
        "1; Ethereum: 12)",
    )
    chain_state_cache_mb: float = Field(
        16.0, ge=0, description="embedded chain: MB of its store kept in memory, the rest on "
        "disk in a temporary SQLite file (0 = all in memory)",
    )
    devchain_data_dir: Path | None = Field(
        None, validation_alias=_env("devchain_data_dir", "KCSTRESS_DEVCHAIN_DATA_DIR"),
        description="embedded chain: keep it in this directory and continue it at the next "
        "start (default: none, it ends with the run; lcore_node serve: devchain/ beside its db)",
    )
    csv_rotate_seconds: float = Field(
        3600.0, ge=0, description="tx/iot CSVs: start a new part after this long (0 = never)",
    )
    csv_rotate_mb: float = Field(
        256.0, ge=0, description="tx/iot CSVs: start a new part past this size (0 = never)",
    )
    csv_keep_parts: int = Field(
        168, ge=0, description="tx/iot CSVs: compressed parts kept, oldest deleted (0 = all)",
    )
    chain: Literal["embedded", "anvil"] = Field(
        "embedded", validation_alias=_env("chain", "KCSTRESS_CHAIN"),
        description="local chain without --rpc-url: embedded py-evm (Stylus) or anvil (npm)",
    )
    users: int = Field(16, ge=1, le=10_000)
    merchants: int = Field(4, ge=1, le=10_000)
    lenders: int = Field(2, ge=1, le=10_000)
    borrowers: int = Field(8, ge=1, le=10_000)
    committers: int = Field(4, ge=1, le=1_000, description="wallets that commit IoT records")
    workers: int = Field(
        1, ge=1, le=256, validation_alias=_env("workers", "KCSTRESS_WORKERS"),
        description="worker processes offering the transfer load ('auto' = one per core)",
    )
    shard: str | None = Field(
        None, validation_alias=_env("shard", "KCSTRESS_SHARD"),
        description="I/N: this process is shard I of N (or JOB_COMPLETION_INDEX with "
        "KCSTRESS_SHARD_COUNT)",
    )
    run_tag: str = Field(
        "", max_length=200, validation_alias=_env("run_tag", "KCSTRESS_RUN_TAG"),
        description="shared by the shards of one run (keeps its start barrier its own)",
    )
    shard_start_timeout: float = Field(
        300.0, gt=0, description="seconds a shard waits for shard 0 to fund and start"
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            import os

            return os.cpu_count() or 1
        return value

    @field_validator("shard", mode="before")
    @classmethod
    def _shard(cls, value: Any) -> Any:
        """I/N with 0 <= I < N; unset: a Kubernetes Indexed Job's index, if any."""
        import os
        import re

        if value in (None, "") and os.environ.get("JOB_COMPLETION_INDEX", "") != "":
            count = os.environ.get("KCSTRESS_SHARD_COUNT", "")
            value = f"{os.environ['JOB_COMPLETION_INDEX']}/{count}" if count else None
        if value in (None, ""):
            return None
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
        if not match or not int(match[1]) < int(match[2]):
            raise ValueError(f"expected I/N with 0 <= I < N, got {value!r}")
        return f"{int(match[1])}/{int(match[2])}"

    @field_validator("rpc_url", "lcore_node_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        try:
            parsed.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise ValueError(f"bad port in URL {value!r}") from exc
        return value

    @field_validator("contract_address", "cartesi_input_box_address", "cartesi_app_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if not value:
            return None
        from eth_utils import is_address, to_checksum_address

        if not is_address(value):
            raise ValueError(f"not an address: {value!r}")
        return str(to_checksum_address(value))

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        text = value.get_secret_value().removeprefix("0x")
        if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError("must be 32 bytes in hex (64 hex digits)")
        return SecretStr(text)

    @field_validator("private_key_file")
    @classmethod
    def _key_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            _read_key_file(value)  # readable and a key: refused here, under the file's name
        return value

    @model_validator(mode="after")
    def _key_from_file(self) -> Settings:
        if self.private_key_file is not None:
            if self.private_key is not None:
                raise ValueError("give PRIVATE_KEY or PRIVATE_KEY_FILE, not both")
            self.private_key = _read_key_file(self.private_key_file)
        return self

    def given_as(self, field: str) -> str:
        """The option, environment variable or ``FILE: key`` the user gave ``field`` as."""
        return self._sources.name(field) if self._sources else field

    def rates(self) -> dict[str, float]:
        """Target rate per workload name."""
        return {name: float(getattr(self, field)) for name, field in RATE_FIELDS.items()}

    def public_dict(self) -> dict[str, Any]:
        """The effective settings without secrets (for summary.json): no private key, and
        URLs as scheme://host:port (:func:`utils.redact.redact_url`)."""
        from utils.redact import redact_url

        data = self.model_dump(mode="json", exclude={"private_key"})
        data["private_key"] = "<set>" if self.private_key else None
        for name in ("rpc_url", "lcore_node_url"):
            if data.get(name):
                data[name] = redact_url(data[name])
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        scenario = InitSettingsSource(settings_cls, init_kwargs=_SCENARIO.get() or {})
        return (init_settings, env_settings, scenario)


#: read by the lcore node itself (lcore_node.config / keys), not a Settings field
LCORE_ENV = ("LCORE_STAGE1_KEY", "LCORE_STAGE2_KEY", "LCORE_KEY_ID", "LCORE_REQUIRE_SIGNATURES")
#: read by the shard validator (a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX)
SHARD_ENV = ("JOB_COMPLETION_INDEX", "KCSTRESS_SHARD_COUNT")


def _read_key_file(path: Path) -> SecretStr:
    """The hex key in ``path`` (never quoted in an error)."""
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    key = Settings._key(SecretStr(text))
    if key is None:
        raise ValueError(f"{path} is empty")
    return key


def environment_names() -> list[str]:
    """Every environment variable a run reads."""
    names = {
        choice
        for info in Settings.model_fields.values()
        if isinstance(info.validation_alias, AliasChoices)
        for choice in info.validation_alias.choices
        if isinstance(choice, str) and choice.isupper()
    }
    return sorted(names) + list(LCORE_ENV) + list(SHARD_ENV)


def load_settings(cli: Mapping[str, Any], scenario: Path | None = None,
                  names: Mapping[str, str] | None = None) -> Settings:
    """Merge CLI over env over scenario over defaults; ConfigError if invalid, naming the
    option, environment variable or scenario key the bad value was given under. ``cli``
    holds every option of the command line (None: not given); ``names`` the option each key
    is written as when not ``--KEY`` (default: ``--rate`` for the rate fields)."""
    options = {key: (names or {}).get(key) or _option(key) for key in cli}
    given = {k: v for k, v in cli.items() if v is not None}
    file = read_scenario(scenario) if scenario else None
    sources = SettingNames.of(dict(Settings.model_fields), {k: options[k] for k in given},
                              options, file)
    token = _SCENARIO.set(file.values if file else {})
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise sources.error(exc) from None
    finally:
        _SCENARIO.reset(token)
    settings._sources = sources
    return settings


def _option(key: str) -> str:
    return "--rate" if key in RATE_FIELDS.values() else f"--{key.replace('_', '-')}"
