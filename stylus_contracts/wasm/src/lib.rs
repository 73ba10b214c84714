//! MVPIoTProcessor as a Stylus program: `#![no_std]`, no crates, raw `vm_hooks` host ABI.
//!
//! ABI, event, error and storage layout are those of the EVM twin
//! `stylus_contracts/evm/MVPIoTProcessor.sol` (solc 0.8 semantics, including its ABI
//! decoder's reverts, its non-payable checks and Solidity's short/long `bytes` encoding):
//!
//!   slot 0  mapping(bytes32 => TaskResult); record base b = keccak256(taskId . u256(0))
//!           b + 0  bytes encryptedResult  (len <= 31: data | len * 2 in slot b;
//!                                          len >= 32: slot b = len * 2 + 1, data in
//!                                          keccak256(b) + i, 32 bytes a slot)
//!           b + 1  proofHash, b + 2 timestamp, b + 3 submitter
//!   slot 1  uint256 resultCount
//!   slot 2  mapping(bytes32 => Batch); batch base c = keccak256(root . u256(2))
//!           c + 0 size, c + 1 timestamp, c + 2 submitter
//!
//! Build: scripts/build_stylus.sh (Debian rustc, wasm32-unknown-unknown, deterministic).
#![no_std]

mod hostio;
mod mem;
mod word;

use word::Word;

const SEL_SUBMIT: [u8; 4] = [0xd4, 0x7a, 0x28, 0x4d]; // submitResult(bytes32,bytes,bytes32)
const SEL_GET: [u8; 4] = [0xad, 0xd4, 0xc7, 0x84]; // getResult(bytes32)
const SEL_COUNT: [u8; 4] = [0xaa, 0x4f, 0xde, 0xfb]; // resultCount()
const ERR_ALREADY: [u8; 4] = [0xfc, 0xd6, 0x1d, 0x04]; // TaskAlreadySubmitted(bytes32)
const SEL_COMMIT_BATCH: [u8; 4] = [0x6d, 0xac, 0x07, 0x3d]; // commitBatch(bytes32,uint256)
const SEL_GET_BATCH: [u8; 4] = [0xed, 0x42, 0x13, 0x6f]; // getBatch(bytes32)
const ERR_BATCH_ALREADY: [u8; 4] = [0x2b, 0xa1, 0xc7, 0x14]; // BatchAlreadyCommitted(bytes32)
/// keccak256("BatchCommitted(bytes32,address,uint256)")
const EVENT_BATCH: Word = [
    0xc4, 0x50, 0xa6, 0x8b, 0xc3, 0x6f, 0xf6, 0xf6, 0x10, 0x16, 0x39, 0xb4, 0x8c, 0xd8, 0xe5, 0x6b,
    0x93, 0x67, 0xa9, 0x84, 0x15, 0x45, 0xd4, 0x32, 0x2b, 0x15, 0x3a, 0x40, 0xc4, 0x4a, 0x69, 0x15,
];
const BATCHES_SLOT: u64 = 2;
/// keccak256("ResultSubmitted(bytes32,address,bytes32,uint256)")
const EVENT_SUBMITTED: Word = [
    0xd8, 0x0b, 0xf5, 0xc0, 0x31, 0x87, 0x25, 0x60, 0x36, 0xd1, 0x08, 0xaf, 0xf4, 0x1f, 0xc4, 0x14,
    0xb1, 0xe0, 0x8e, 0x47, 0xd3, 0xe1, 0xe0, 0x62, 0xa0, 0x72, 0x99, 0x9f, 0xe7, 0x5e, 0x94, 0x78,
];
const COUNT_SLOT: Word = word::from_u64(1);
const U64_MAX: u64 = u64::MAX;

/// Outcome of a call: data for `write_result` and whether it reverts.
struct Outcome {
    data: &'static [u8],
    revert: bool,
}

impl Outcome {
    fn ok(data: &'static [u8]) -> Self {
        Outcome { data, revert: false }
    }
    fn revert(data: &'static [u8]) -> Self {
        Outcome { data, revert: true }
    }
}

#[no_mangle]
pub extern "C" fn user_entrypoint(len: usize) -> usize {
    // As the Stylus SDK does: keep the import present so the VM can charge for memory growth.
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
    // Persist the cached storage writes (the SDK flushes on success only).
    unsafe { hostio::storage_flush_cache(true) };
    0
}

fn dispatch(args: &'static [u8]) -> Outcome {
    if args.len() < 4 {
        return Outcome::revert(&[]);
    }
    let selector = [args[0], args[1], args[2], args[3]];
    let body = &args[4..];
    if selector != SEL_SUBMIT
        && selector != SEL_GET
        && selector != SEL_COUNT
        && selector != SEL_COMMIT_BATCH
        && selector != SEL_GET_BATCH
    {
        return Outcome::revert(&[]);
    }
    if has_value() {
        return Outcome::revert(&[]); // every function is non-payable
    }
    if selector == SEL_SUBMIT {
        submit_result(args)
    } else if selector == SEL_GET {
        get_result(body)
    } else if selector == SEL_COMMIT_BATCH {
        commit_batch(body)
    } else if selector == SEL_GET_BATCH {
        get_batch(body)
    } else {
        Outcome::ok(mem::copy(&load(&COUNT_SLOT)))
    }
}

fn has_value() -> bool {
    let mut value: Word = [0; 32];
    unsafe { hostio::msg_value(value.as_mut_ptr()) };
    !word::is_zero(&value)
}

/// Decodes `(bytes32, bytes calldata, bytes32)` exactly as solc's ABI decoder v2 does.
/// Offsets are absolute positions in `args` (selector included), like CALLDATALOAD.
fn decode_submit(args: &'static [u8]) -> Option<(Word, &'static [u8], Word)> {
    let end = args.len() as u64;
    if end - 4 < 96 {
        return None;
    }
    let task_id = word::load(args, 4);
    let offset = word::to_u64(&word::load(args, 36))?;
    let proof_hash = word::load(args, 68);
    let start = 4u64.checked_add(offset)?;
    if start.checked_add(31)? >= end {
        return None;
    }
    let length = word::to_u64(&word::load(args, start as usize))?;
    let data_pos = start + 32;
    if data_pos.checked_add(length)? > end {
        return None;
    }
    let data = &args[data_pos as usize..(data_pos + length) as usize];
    Some((task_id, data, proof_hash))
}

fn submit_result(args: &'static [u8]) -> Outcome {
    let (task_id, data, proof_hash) = match decode_submit(args) {
        Some(decoded) => decoded,
        None => return Outcome::revert(&[]),
    };
    let base = record_base(&task_id);
    if !word::is_zero(&load(&word::add_u64(&base, 3))) {
        let out = mem::alloc(36);
        out[..4].copy_from_slice(&ERR_ALREADY);
        out[4..].copy_from_slice(&task_id);
        return Outcome::revert(out);
    }
    store_bytes(&base, data);
    store(&word::add_u64(&base, 1), &proof_hash);
    let now = unsafe { hostio::block_timestamp() };
    store(&word::add_u64(&base, 2), &word::from_u64(now));
    let mut sender: Word = [0; 32];
    unsafe { hostio::msg_sender(sender[12..].as_mut_ptr()) };
    store(&word::add_u64(&base, 3), &sender);
    let count = load(&COUNT_SLOT);
    store(&COUNT_SLOT, &word::add_u64(&count, 1));
    emit_submitted(&task_id, &sender, &proof_hash, data.len() as u64);
    Outcome::ok(&[])
}

fn emit_submitted(task_id: &Word, sender: &Word, proof_hash: &Word, size: u64) {
    let buf = mem::alloc(32 * 5);
    buf[..32].copy_from_slice(&EVENT_SUBMITTED);
    buf[32..64].copy_from_slice(task_id);
    buf[64..96].copy_from_slice(sender);
    buf[96..128].copy_from_slice(proof_hash);
    buf[128..].copy_from_slice(&word::from_u64(size));
    unsafe { hostio::emit_log(buf.as_ptr(), buf.len(), 3) };
}

fn commit_batch(body: &[u8]) -> Outcome {
    if body.len() < 64 {
        return Outcome::revert(&[]);
    }
    let root = word::load(body, 0);
    let size = word::load(body, 32);
    let base = mapping_base(&root, BATCHES_SLOT);
    if !word::is_zero(&load(&word::add_u64(&base, 2))) {
        let out = mem::alloc(36);
        out[..4].copy_from_slice(&ERR_BATCH_ALREADY);
        out[4..].copy_from_slice(&root);
        return Outcome::revert(out);
    }
    store(&base, &size);
    let now = unsafe { hostio::block_timestamp() };
    store(&word::add_u64(&base, 1), &word::from_u64(now));
    let mut sender: Word = [0; 32];
    unsafe { hostio::msg_sender(sender[12..].as_mut_ptr()) };
    store(&word::add_u64(&base, 2), &sender);
    let buf = mem::alloc(32 * 4);
    buf[..32].copy_from_slice(&EVENT_BATCH);
    buf[32..64].copy_from_slice(&root);
    buf[64..96].copy_from_slice(&sender);
    buf[96..].copy_from_slice(&size);
    unsafe { hostio::emit_log(buf.as_ptr(), buf.len(), 3) };
    Outcome::ok(&[])
}

fn get_batch(body: &[u8]) -> Outcome {
    if body.len() < 32 {
        return Outcome::revert(&[]);
    }
    let base = mapping_base(&word::load(body, 0), BATCHES_SLOT);
    let out = mem::alloc(96);
    for index in 0..3 {
        let at = index * 32;
        out[at..at + 32].copy_from_slice(&load(&word::add_u64(&base, index as u64)));
    }
    Outcome::ok(out)
}

fn get_result(body: &[u8]) -> Outcome {
    if body.len() < 32 {
        return Outcome::revert(&[]);
    }
    let task_id = word::load(body, 0);
    let base = record_base(&task_id);
    let head = load(&base);
    let (length, long) = bytes_length(&head);
    let padded = (length + 31) / 32 * 32;
    let out = mem::alloc(32 * 5 + padded);
    out[..32].copy_from_slice(&word::from_u64(0x80));
    out[32..64].copy_from_slice(&load(&word::add_u64(&base, 1)));
    out[64..96].copy_from_slice(&load(&word::add_u64(&base, 2)));
    out[96..128].copy_from_slice(&load(&word::add_u64(&base, 3)));
    out[128..160].copy_from_slice(&word::from_u64(length as u64));
    let data = &mut out[160..];
    if long {
        let first = keccak(&base);
        for (index, chunk) in data.chunks_mut(32).enumerate() {
            chunk.copy_from_slice(&load(&word::add_u64(&first, index as u64)));
        }
    } else {
        data[..length].copy_from_slice(&head[..length]);
    }
    Outcome::ok(out)
}

/// Solidity's `bytes` storage length: (length, stored out of place).
fn bytes_length(head: &Word) -> (usize, bool) {
    if head[31] & 1 == 0 {
        ((head[31] / 2) as usize, false)
    } else {
        let raw = word::to_u64(head).unwrap_or(U64_MAX);
        ((raw / 2) as usize, true)
    }
}

fn store_bytes(base: &Word, data: &[u8]) {
    let mut head: Word = [0; 32];
    if data.len() <= 31 {
        head[..data.len()].copy_from_slice(data);
        head[31] = (data.len() * 2) as u8;
        store(base, &head);
        return;
    }
    store(base, &word::from_u64(data.len() as u64 * 2 + 1));
    let first = keccak(base);
    for (index, chunk) in data.chunks(32).enumerate() {
        let mut value: Word = [0; 32];
        value[..chunk.len()].copy_from_slice(chunk);
        store(&word::add_u64(&first, index as u64), &value);
    }
}

fn record_base(task_id: &Word) -> Word {
    mapping_base(task_id, 0)
}

/// keccak256(key . u256(slot)): where a mapping at `slot` keeps `key`'s value.
fn mapping_base(key: &Word, slot: u64) -> Word {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(key);
    preimage[32..].copy_from_slice(&word::from_u64(slot));
    let mut out: Word = [0; 32];
    unsafe { hostio::native_keccak256(preimage.as_ptr(), 64, out.as_mut_ptr()) };
    out
}

fn keccak(value: &Word) -> Word {
    let mut out: Word = [0; 32];
    unsafe { hostio::native_keccak256(value.as_ptr(), 32, out.as_mut_ptr()) };
    out
}

fn load(key: &Word) -> Word {
    let mut out: Word = [0; 32];
    unsafe { hostio::storage_load_bytes32(key.as_ptr(), out.as_mut_ptr()) };
    out
}

fn store(key: &Word, value: &Word) {
    unsafe { hostio::storage_cache_bytes32(key.as_ptr(), value.as_ptr()) };
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
