//! Calldata decoding and return / revert encoding, as solc 0.8's ABI coder v2 does it:
//! too-short calldata and an address word with high bits set revert without data;
//! custom errors are `selector . words`; checked arithmetic fails with Panic(0x11).

use super::mem;
use super::u256::{self, Word};

pub type Address = [u8; 20];

pub const PANIC: [u8; 4] = [0x4e, 0x48, 0x7b, 0x71]; // Panic(uint256)
pub const PANIC_OVERFLOW: u64 = 0x11;

/// What a call ends with: data for `write_result` and whether it reverts.
pub struct Outcome {
    pub data: &'static [u8],
    pub revert: bool,
}

impl Outcome {
    pub fn ok(data: &'static [u8]) -> Self {
        Outcome { data, revert: false }
    }
    pub fn empty_revert() -> Self {
        Outcome { data: &[], revert: true }
    }
    /// Reverts with `selector . words` (a custom error).
    pub fn error(selector: [u8; 4], words: &[Word]) -> Self {
        Outcome { data: encode(Some(selector), words), revert: true }
    }
    pub fn panic_overflow() -> Self {
        Outcome::error(PANIC, &[u256::from_u64(PANIC_OVERFLOW)])
    }
    /// Returns the ABI encoding of static words.
    pub fn words(words: &[Word]) -> Self {
        Outcome::ok(encode(None, words))
    }
    pub fn word(value: &Word) -> Self {
        Outcome::ok(mem::copy(value))
    }
    pub fn boolean(value: bool) -> Self {
        Outcome::word(&u256::from_u64(value as u64))
    }
    /// Returns one ABI `string`.
    pub fn string(text: &[u8]) -> Self {
        let padded = (text.len() + 31) / 32 * 32;
        let out = mem::alloc(64 + padded);
        out[..32].copy_from_slice(&u256::from_u64(32));
        out[32..64].copy_from_slice(&u256::from_u64(text.len() as u64));
        out[64..64 + text.len()].copy_from_slice(text);
        Outcome::ok(out)
    }
}

pub fn encode(selector: Option<[u8; 4]>, words: &[Word]) -> &'static [u8] {
    let head = if selector.is_some() { 4 } else { 0 };
    let out = mem::alloc(head + 32 * words.len());
    if let Some(sel) = selector {
        out[..4].copy_from_slice(&sel);
    }
    for (i, value) in words.iter().enumerate() {
        out[head + 32 * i..head + 32 * (i + 1)].copy_from_slice(value);
    }
    out
}

/// The arguments of a call (selector stripped).
pub struct Args {
    pub body: &'static [u8],
}

impl Args {
    /// `Some` when the body holds at least `count` words (solc: `calldatasize - 4 < 32n` reverts).
    pub fn with(body: &'static [u8], count: usize) -> Option<Args> {
        if body.len() < 32 * count {
            return None;
        }
        Some(Args { body })
    }
    pub fn word(&self, index: usize) -> Word {
        u256::load(self.body, 32 * index)
    }
    /// An `address` argument; `None` when its high 12 bytes are not zero (solc reverts).
    pub fn address(&self, index: usize) -> Option<Address> {
        let value = self.word(index);
        if value[..12].iter().any(|byte| *byte != 0) {
            return None;
        }
        Some(u256::to_address(&value))
    }
}

pub fn selector(args: &[u8]) -> Option<[u8; 4]> {
    if args.len() < 4 {
        return None;
    }
    Some([args[0], args[1], args[2], args[3]])
}

/// A function body's result: `Err` ends the call with that (revert) outcome.
pub type Res = Result<Outcome, Outcome>;

/// `None` (a decoding failure) becomes solc's revert without data.
pub fn need<T>(value: Option<T>) -> Result<T, Outcome> {
    value.ok_or_else(Outcome::empty_revert)
}

/// `None` (an overflow) becomes Panic(0x11), as solc 0.8's checked arithmetic.
pub fn checked(value: Option<Word>) -> Result<Word, Outcome> {
    value.ok_or_else(Outcome::panic_overflow)
}

/// Collapses a function body's result into the outcome of the call.
pub fn finish(result: Res) -> Outcome {
    match result {
        Ok(outcome) => outcome,
        Err(outcome) => outcome,
    }
}
