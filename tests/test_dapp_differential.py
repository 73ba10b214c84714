"""Differential test of the dApp contracts: each Stylus program against its Solidity twin.

Three py-evm chains with the Stylus host hold the same three contracts at the same
addresses (the deployer's nonces are kept aligned): ``stylus`` (every contract a WASM
program: the router's and the pool's token calls are WASM calling WASM), ``evm`` (every
contract its Solidity twin) and ``mixed`` (the router and pool are WASM, the token is the
EVM twin: WASM calling EVM). Every random call sequence is applied to all three through
the VM's own ``apply_message``; each call's status, return data and logs (emitter, topics,
data), every contract's storage root (so every touched slot), and every account's balance
must be identical. Time moves between sequences (interest, liquidations).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth.vm.message import Message
from eth_tester import EthereumTester
from eth_typing import Address
from eth_utils import to_canonical_address

from stylus_contracts.dapps import MAX_UINT256, call_data, load_dapp_artifact, load_dapp_wasm
from tests.stylus_tester import deploy_program, new_stylus_tester
from utils.devchain.stylus.runtime import StylusRuntime

SEQUENCES = 1000  # per contract
SEED = 20261201
ROLES = ("token", "router", "pool")
WORLDS = {"stylus": ("stylus",) * 3, "evm": ("evm",) * 3, "mixed": ("evm", "stylus", "stylus")}
ZERO = b"\x00" * 20
Call = tuple[bytes, bytes, bytes, int]  # sender, target, calldata, value


@dataclass
class World:
    name: str
    tester: EthereumTester
    state: Any = None
    baseline: dict[bytes, int] = field(default_factory=dict)


@dataclass
class Twins:
    worlds: list[World]
    addresses: dict[str, bytes]
    accounts: list[bytes]
    now: int

    @property
    def owner(self) -> bytes:
        return self.accounts[0]


def _deploy(tester: EthereumTester, flavour: str, role: str, sender: str) -> str:
    """Two transactions whatever the flavour, so every chain's nonces stay aligned."""
    if flavour == "stylus":
        return deploy_program(tester, load_dapp_wasm(role), sender).address
    code = "0x" + load_dapp_artifact(role).bytecode.hex()
    tx = tester.send_transaction({"from": sender, "data": code, "gas": 5_000_000})
    address: str = tester.get_transaction_receipt(tx)["contract_address"]
    tester.send_transaction({"from": sender, "to": sender, "value": 0, "gas": 21_000})
    return address


def apply(world: World, call: Call) -> tuple[bool, bytes, list[Any]]:
    sender, target, data, value = call
    state = world.state
    context = state.get_transaction_context_class()(gas_price=0, origin=Address(sender))
    state.mark_address_warm(Address(sender))
    state.mark_address_warm(Address(target))
    message = Message(gas=5_000_000, to=Address(target), sender=Address(sender), value=value,
                      data=data, code=state.get_code(Address(target)))
    computation = state.computation_class.apply_message(state, message, context)
    state.lock_changes()
    logs = [(bytes(a), t, d) for a, t, d in computation.get_log_entries()]
    return computation.is_success, bytes(computation.output), logs


def fingerprint(twins: Twins, world: World) -> tuple[Any, ...]:
    state = world.state
    state.make_state_root()
    roots = tuple(bytes(state._account_db._get_storage_root(Address(a)))
                  for a in twins.addresses.values())
    # balances as moves since set-up (deployment gas differs between the flavours)
    balances = tuple(state.get_balance(Address(a)) - world.baseline.get(a, 0)
                     for a in (*twins.accounts, *twins.addresses.values()))
    return roots, balances


def run_everywhere(twins: Twins, call: Call) -> tuple[bool, bytes, list[Any]]:
    results = [apply(world, call) for world in twins.worlds]
    for world, result in zip(twins.worlds[1:], results[1:], strict=True):
        assert result == results[0], (
            f"{world.name} differs from {twins.worlds[0].name} on {call[2][:4].hex()} "
            f"{call[2][4:].hex()} value={call[3]}: {result} != {results[0]}")
    return results[0]


@pytest.fixture(scope="module")
def twins() -> Iterator[Twins]:
    yield make_twins()


def make_twins() -> Twins:
    """Three chains (stylus, evm, mixed) with the contracts deployed and set up."""
    runtime = StylusRuntime()
    worlds: list[World] = []
    addresses: dict[str, bytes] = {}
    for name, flavours in WORLDS.items():
        tester = new_stylus_tester(runtime)
        deployer = tester.get_accounts()[0]
        placed = {role: bytes(to_canonical_address(_deploy(tester, flavour, role, deployer)))
                  for role, flavour in zip(ROLES, flavours, strict=True)}
        assert not addresses or placed == addresses, "deployments must share addresses"
        addresses = placed
        world = World(name, tester)
        world.state = tester.backend.chain.get_vm().state
        worlds.append(world)
    accounts = [bytes(to_canonical_address(a)) for a in worlds[0].tester.get_accounts()[:10]]
    twins = Twins(worlds, addresses, accounts, worlds[0].state.timestamp)
    _set_up(twins)
    return twins


def _set_up(twins: Twins) -> None:
    token, router, pool = (twins.addresses[r] for r in ROLES)
    steps: list[Call] = [
        (twins.owner, token, call_data("initialize(address)", twins.owner), 0),
        (twins.owner, router, call_data("initialize(address)", token), 0),
        (twins.owner, pool, call_data("initialize(address)", token), 0),
    ]
    for account in twins.accounts[1:]:
        steps.append((twins.owner, token,
                      call_data("mint(address,uint256)", account, 10**12), 0))
        for spender in (router, pool):
            amount = MAX_UINT256 if account[-1] % 2 else 10**11
            steps.append((account, token, call_data("approve(address,uint256)", spender,
                                                     amount), 0))
    steps.append((twins.accounts[7], pool, call_data("deposit(uint256)", 10**11), 0))
    for step in steps:
        assert run_everywhere(twins, step)[0], step
    for world in twins.worlds:
        world.baseline = {a: world.state.get_balance(Address(a))
                          for a in (*twins.accounts, *twins.addresses.values())}


def _amount(rng: random.Random) -> int:
    return rng.choice([0, 1, rng.randint(1, 10**6), rng.randint(1, 10**9), 10**11, 10**12,
                       10**12 + 1, MAX_UINT256, rng.getrandbits(256)])


def _address(rng: random.Random, twins: Twins) -> bytes:
    return rng.choice([*twins.accounts, *twins.addresses.values(), ZERO])


def _dirty(rng: random.Random, data: bytes) -> bytes:
    """Malformed calldata: cut short, a dirty address word, an unknown selector."""
    kind = rng.randrange(3)
    if kind == 0:
        return data[: rng.randrange(len(data))]
    if kind == 1 and len(data) >= 36:
        return data[:4] + rng.randbytes(12) + data[16:]
    return rng.randbytes(4) + data[4:]


def token_call(rng: random.Random, twins: Twins) -> Call:
    token, sender = twins.addresses["token"], rng.choice(twins.accounts)
    a, b, amount = _address(rng, twins), _address(rng, twins), _amount(rng)
    data = rng.choice([
        call_data("transfer(address,uint256)", a, amount),
        call_data("transfer(address,uint256)", a, rng.randint(0, 10**9)),
        call_data("approve(address,uint256)", a, amount),
        call_data("transferFrom(address,address,uint256)", a, b, rng.randint(0, 10**9)),
        call_data("transferFrom(address,address,uint256)", a, b, amount),
        call_data("mint(address,uint256)", a, amount),
        call_data("balanceOf(address)", a), call_data("allowance(address,address)", a, b),
        call_data("totalSupply()"), call_data("name()"), call_data("symbol()"),
        call_data("decimals()"), call_data("owner()"), call_data("initialize(address)", a),
    ])
    if rng.random() < 0.3 and data[:4] == call_data("mint(address,uint256)", a, 0)[:4]:
        sender = twins.owner
    return _finish(rng, sender, token, data)


def router_call(rng: random.Random, twins: Twins) -> Call:
    router, sender = twins.addresses["router"], rng.choice(twins.accounts)
    merchant = rng.choice([*twins.accounts[4:7], _address(rng, twins)])
    data = rng.choice([
        call_data("pay(address,uint256,bytes32)", merchant, rng.randint(0, 10**8),
                  rng.randbytes(32)),
        call_data("pay(address,uint256,bytes32)", merchant, _amount(rng), rng.randbytes(32)),
        call_data("settle(address)", merchant),
        call_data("setSettlementAddress(address)", rng.choice([twins.accounts[8], ZERO])),
        call_data("escrowOf(address)", merchant), call_data("receivedOf(address)", merchant),
        call_data("settledOf(address)", merchant), call_data("paymentCount()"),
        call_data("settlementAddressOf(address)", merchant), call_data("token()"),
        call_data("initialize(address)", merchant),
    ])
    return _finish(rng, sender, router, data)


def pool_call(rng: random.Random, twins: Twins) -> Call:
    pool, sender = twins.addresses["pool"], rng.choice(twins.accounts)
    collateral = rng.choice([0, 10**15, rng.randint(1, 10**19)])
    limit = collateral * 2_000_000_000 // 10**18 * 7500 // 10_000
    borrower = rng.choice([*twins.accounts, ZERO])
    roll = rng.random()
    if roll < 0.25:
        amount = rng.choice([limit, max(limit - rng.randint(0, limit // 2 + 1), 0), limit + 1,
                             _amount(rng)])
        return sender, pool, call_data("borrow(uint256)", amount), collateral
    if roll < 0.45:
        return sender, pool, call_data("repay()"), 0
    if roll < 0.6:
        return sender, pool, call_data("liquidate(address)", borrower), 0
    data = rng.choice([
        call_data("deposit(uint256)", rng.choice([0, rng.randint(1, 10**9), _amount(rng)])),
        call_data("loanOf(address)", borrower), call_data("debtOf(address)", borrower),
        call_data("maxBorrow(uint256)", rng.choice([collateral, MAX_UINT256])),
        call_data("depositOf(address)", borrower), call_data("totalDeposits()"),
        call_data("totalBorrowed()"), call_data("interestEarned()"), call_data("openLoans()"),
        call_data("liquidations()"), call_data("token()"), call_data("initialize(address)", pool),
    ])
    return _finish(rng, sender, pool, data)


def _finish(rng: random.Random, sender: bytes, target: bytes, data: bytes) -> Call:
    roll = rng.random()
    if roll < 0.05:
        return sender, target, _dirty(rng, data), 0
    if roll < 0.08:
        return sender, target, data, rng.randint(1, 10**6)  # value to a non-payable function
    return sender, target, data, 0


def differential(twins: Twins, make: Callable[[random.Random, Twins], Call], seed: int,
                 sequences: int = SEQUENCES) -> dict[str, int]:
    """Apply ``sequences`` random call sequences everywhere; counts of what happened."""
    rng = random.Random(seed)
    seen = {"success": 0, "revert": 0, "logs": 0}
    for index in range(sequences):
        twins.now += rng.choice([0, 1, 5, 30, 600])
        for world in twins.worlds:
            world.state.execution_context._timestamp = twins.now  # time moves between sequences
        for _ in range(rng.randint(1, 3)):
            ok, _output, logs = run_everywhere(twins, make(rng, twins))
            seen["success" if ok else "revert"] += 1
            seen["logs"] += len(logs)
        prints = [fingerprint(twins, world) for world in twins.worlds]
        assert prints[1:] == prints[:1] * (len(prints) - 1), f"sequence {index}: state differs"
    return seen


def test_stablecoin_agrees_with_its_twin(twins: Twins) -> None:
    seen = differential(twins, token_call, SEED)
    assert seen["success"] > SEQUENCES // 2 and seen["revert"] > SEQUENCES // 5
    assert seen["logs"] > SEQUENCES // 4


def test_router_agrees_with_its_twin_calling_wasm_and_evm_tokens(twins: Twins) -> None:
    seen = differential(twins, router_call, SEED + 1)
    assert seen["success"] > SEQUENCES // 2 and seen["revert"] > SEQUENCES // 10
    escrow = call_data("paymentCount()")
    ok, output, _ = run_everywhere(twins, (twins.owner, twins.addresses["router"], escrow, 0))
    assert ok and int.from_bytes(output, "big") > SEQUENCES // 10


def test_pool_agrees_with_its_twin_through_loan_lifecycles(twins: Twins) -> None:
    seen = differential(twins, pool_call, SEED + 2)
    assert seen["success"] > SEQUENCES // 3 and seen["revert"] > SEQUENCES // 5
    pool = twins.addresses["pool"]
    counts = [run_everywhere(twins, (twins.owner, pool, call_data(sig), 0))[1]
              for sig in ("liquidations()", "interestEarned()")]
    assert all(int.from_bytes(c, "big") > 0 for c in counts), "no liquidation or no interest"
