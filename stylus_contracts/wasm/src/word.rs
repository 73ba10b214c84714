//! 32-byte big-endian EVM words.

pub type Word = [u8; 32];

pub const fn from_u64(value: u64) -> Word {
    let mut out = [0u8; 32];
    let bytes = value.to_be_bytes();
    let mut i = 0;
    while i < 8 {
        out[24 + i] = bytes[i];
        i += 1;
    }
    out
}

/// The word as a u64, or `None` when it does not fit (solc's `gt(x, 0xffffffffffffffff)`).
pub fn to_u64(value: &Word) -> Option<u64> {
    if value[..24].iter().any(|byte| *byte != 0) {
        return None;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&value[24..]);
    Some(u64::from_be_bytes(low))
}

pub fn is_zero(value: &Word) -> bool {
    value.iter().all(|byte| *byte == 0)
}

/// CALLDATALOAD: 32 bytes at `pos`, zero-padded past the end.
pub fn load(data: &[u8], pos: usize) -> Word {
    let mut out = [0u8; 32];
    if pos < data.len() {
        let end = core::cmp::min(data.len(), pos + 32);
        out[..end - pos].copy_from_slice(&data[pos..end]);
    }
    out
}

/// `value + addend` modulo 2**256.
pub fn add_u64(value: &Word, addend: u64) -> Word {
    let mut out = *value;
    let mut carry = addend as u128;
    let mut index = 32;
    while carry != 0 && index > 0 {
        index -= 1;
        let sum = out[index] as u128 + (carry & 0xff);
        out[index] = sum as u8;
        carry = (carry >> 8) + (sum >> 8);
    }
    out
}
