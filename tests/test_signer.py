"""The fast signer against eth-account, the reference: random transactions, identical bytes."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_account import Account

from utils.chain.signer import Signer, address_bytes, checksum_address, rlp_bytes, rlp_int
from utils.chain.wallets import WalletPool

TXS = 10_000
KEYS = 32
#: values around every RLP length boundary, plus the extremes
EDGES = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 2**55, 2**56, 2**63, 2**64 - 1]


def pick_int(rng: random.Random, bits: int) -> int:
    if rng.random() < 0.2:
        return rng.choice([e for e in EDGES if e < 2**bits] + [2**bits - 1])
    return rng.getrandbits(rng.randint(1, bits))


def pick_data(rng: random.Random) -> bytes:
    size = rng.choice([0, 0, 1, 1, 2, 55, 56, 57, 255, 256, rng.randint(0, 600), 70_000])
    if size == 1:
        return bytes((rng.choice([0, 0x7F, 0x80, 0xFF, rng.randint(0, 255)]),))
    return rng.randbytes(size)


def random_tx(rng: random.Random) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "nonce": pick_int(rng, 64) if rng.random() < 0.5 else rng.randint(0, 1000),
        "gas": pick_int(rng, 63) or 1,
        "value": pick_int(rng, 256),
        "data": pick_data(rng),
    }
    if rng.random() < 0.9:  # else contract creation: no "to"
        tx["to"] = checksum_address(rng.randbytes(20))
    chain_id = rng.choice([1, 42161, 412346, 31337, rng.randint(1, 2**32), pick_int(rng, 63) or 1])
    if rng.random() < 0.5:
        priority = pick_int(rng, 128)
        tx.update(type=2, chainId=chain_id, maxPriorityFeePerGas=priority,
                  maxFeePerGas=priority + pick_int(rng, 128), accessList=[])
    else:
        tx["gasPrice"] = pick_int(rng, 128)
        if rng.random() < 0.9:  # else a pre-EIP-155 transaction
            tx["chainId"] = chain_id
    return tx


def fast_sign(signer: Signer, tx: dict[str, Any]) -> tuple[bytes, bytes]:
    common = {"nonce": tx["nonce"], "gas": tx["gas"], "value": tx["value"], "data": tx["data"],
              "to": address_bytes(tx.get("to", ""))}
    if tx.get("type") == 2:
        signed = signer.sign_eip1559(chain_id=tx["chainId"], max_fee=tx["maxFeePerGas"],
                                     max_priority_fee=tx["maxPriorityFeePerGas"], **common)
    else:
        signed = signer.sign_legacy(chain_id=tx.get("chainId"), gas_price=tx["gasPrice"],
                                    **common)
    return signed.raw, signed.hash


def test_random_transactions_are_byte_identical_to_eth_account() -> None:
    rng = random.Random(20261201)
    keys = [rng.randbytes(32) for _ in range(KEYS)]
    signers = [Signer(k) for k in keys]
    kinds = {"eip1559": 0, "legacy": 0, "pre155": 0, "create": 0}
    for _ in range(TXS):
        i = rng.randrange(KEYS)
        tx = random_tx(rng)
        ref = Account.sign_transaction(tx, keys[i])
        raw, tx_hash = fast_sign(signers[i], tx)
        assert raw == bytes(ref.raw_transaction), tx
        assert tx_hash == bytes(ref.hash), tx
        kinds["eip1559" if tx.get("type") == 2 else "legacy" if "chainId" in tx else "pre155"] += 1
        kinds["create"] += "to" not in tx
    assert min(kinds.values()) > TXS * 0.04, kinds  # every kind was exercised


def test_address_is_eth_accounts_checksummed_address() -> None:
    rng = random.Random(7)
    for _ in range(200):
        key = rng.randbytes(32)
        assert Signer(key).address == Account.from_key(key).address


def test_signature_recovers_to_the_signer() -> None:
    key = bytes(range(1, 33))
    signer = Signer(key)
    signed = signer.sign_eip1559(chain_id=412346, nonce=5, max_priority_fee=0, max_fee=2 * 10**8,
                                 gas=21_000, to=b"\x11" * 20, value=10**15, data=b"")
    assert Account.recover_transaction(signed.raw) == signer.address
    assert key.hex() not in repr(signer)


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x80"), (1, b"\x01"), (0x7F, b"\x7f"), (0x80, b"\x81\x80"), (0x0400, b"\x82\x04\x00"),
])
def test_rlp_int_matches_the_spec(value: int, encoded: bytes) -> None:
    assert rlp_int(value) == encoded


def test_rlp_bytes_long_header() -> None:
    import rlp

    for n in (0, 1, 55, 56, 255, 256, 65_536):
        data = b"\x80" * n
        assert rlp_bytes(data) == rlp.encode(data)
    with pytest.raises(ValueError):
        address_bytes("0x1234")


def test_run_wallets_match_eth_account_and_never_show_a_key() -> None:
    """WalletPool derives its accounts with coincurve (no eth-account at start-up): the same
    addresses eth-account gives for the same keys, and no key in any repr."""
    rng = random.Random(11)
    funder_key = rng.randbytes(32)
    pool = WalletPool.derive(funder_key, 42, {"user": 20, "committer": 3})
    assert pool.funder.address == Account.from_key(funder_key).address
    for wallet in pool:
        assert wallet.address == Account.from_key(wallet.account.key).address
        assert wallet.account.key.hex() not in repr(wallet) + repr(wallet.account)
    again = WalletPool.derive(funder_key, 42, {"user": 20, "committer": 3})
    assert [w.address for w in again] == [w.address for w in pool]  # deterministic
