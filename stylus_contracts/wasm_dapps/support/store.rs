//! Storage (through the Stylus storage cache), Solidity mapping slots, events, msg data
//! and the program entry point shared by every program.

use super::abi::{Address, Outcome};
use super::hostio;
use super::mem;
use super::u256::{self, Word};

pub fn keccak(data: &[u8]) -> Word {
    let mut out: Word = [0; 32];
    unsafe { hostio::native_keccak256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
    out
}

/// Slot of `mapping[key]` for a mapping at `slot`: keccak256(key . slot).
pub fn mapping_slot(key: &Word, slot: &Word) -> Word {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(key);
    preimage[32..].copy_from_slice(slot);
    keccak(&preimage)
}

/// Slot of `mapping[address]` for a mapping declared at `slot`.
pub fn address_slot(key: &Address, slot: u64) -> Word {
    mapping_slot(&u256::from_address(key), &u256::from_u64(slot))
}

pub fn load(key: &Word) -> Word {
    let mut out: Word = [0; 32];
    unsafe { hostio::storage_load_bytes32(key.as_ptr(), out.as_mut_ptr()) };
    out
}

pub fn load_slot(slot: u64) -> Word {
    load(&u256::from_u64(slot))
}

pub fn store(key: &Word, value: &Word) {
    unsafe { hostio::storage_cache_bytes32(key.as_ptr(), value.as_ptr()) };
}

pub fn store_slot(slot: u64, value: &Word) {
    store(&u256::from_u64(slot), value)
}

/// Writes the cached stores to state; `clear` drops the cache (later loads re-read).
pub fn flush(clear: bool) {
    unsafe { hostio::storage_flush_cache(clear) };
}

pub fn sender() -> Address {
    let mut out: Address = [0; 20];
    unsafe { hostio::msg_sender(out.as_mut_ptr()) };
    out
}

pub fn value() -> Word {
    let mut out: Word = [0; 32];
    unsafe { hostio::msg_value(out.as_mut_ptr()) };
    out
}

pub fn this() -> Address {
    let mut out: Address = [0; 20];
    unsafe { hostio::contract_address(out.as_mut_ptr()) };
    out
}

pub fn timestamp() -> u64 {
    unsafe { hostio::block_timestamp() }
}

/// LOGn with `topics` (event signature first) and the ABI words as data.
pub fn emit(topics: &[Word], data: &[Word]) {
    let buf = mem::alloc(32 * (topics.len() + data.len()));
    for (i, value) in topics.iter().chain(data.iter()).enumerate() {
        buf[32 * i..32 * (i + 1)].copy_from_slice(value);
    }
    unsafe { hostio::emit_log(buf.as_ptr(), buf.len(), topics.len()) };
}

/// The program entry: read the calldata, dispatch, write the result; flush the storage
/// cache on success only (a revert discards it), as the Stylus SDK does.
pub fn run(len: usize, dispatch: fn(&'static [u8]) -> Outcome) -> usize {
    unsafe { hostio::pay_for_memory_grow(0) };
    let args = mem::alloc(len);
    unsafe { hostio::read_args(args.as_mut_ptr()) };
    let outcome = dispatch(args);
    if !outcome.data.is_empty() {
        unsafe { hostio::write_result(outcome.data.as_ptr(), outcome.data.len()) };
    }
    if outcome.revert {
        return 1;
    }
    flush(true);
    0
}
