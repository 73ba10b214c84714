//! 256-bit unsigned words, big-endian as the EVM stores them, with solc 0.8's checked
//! arithmetic: every `Option` is `None` exactly where solc reverts with Panic(0x11).

pub type Word = [u8; 32];

pub const ZERO: Word = [0; 32];
pub const MAX: Word = [0xff; 32];

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

/// The word as a u64, or `None` when it does not fit.
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

/// `a < b` as unsigned numbers (big-endian bytes compare lexicographically).
pub fn lt(a: &Word, b: &Word) -> bool {
    a < b
}

fn limbs(value: &Word) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, limb) in out.iter_mut().enumerate() {
        let start = 24 - 8 * i;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&value[start..start + 8]);
        *limb = u64::from_be_bytes(bytes);
    }
    out
}

fn word(limbs: &[u64; 4]) -> Word {
    let mut out = [0u8; 32];
    for (i, limb) in limbs.iter().enumerate() {
        let start = 24 - 8 * i;
        out[start..start + 8].copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// `a + b`, `None` on overflow.
pub fn add(a: &Word, b: &Word) -> Option<Word> {
    let (x, y) = (limbs(a), limbs(b));
    let mut out = [0u64; 4];
    let mut carry = 0u128;
    for i in 0..4 {
        let sum = x[i] as u128 + y[i] as u128 + carry;
        out[i] = sum as u64;
        carry = sum >> 64;
    }
    if carry != 0 {
        return None;
    }
    Some(word(&out))
}

/// `a - b` modulo 2**256 (callers check `b <= a` first, as the contracts do).
pub fn sub(a: &Word, b: &Word) -> Word {
    let (x, y) = (limbs(a), limbs(b));
    let mut out = [0u64; 4];
    let mut borrow = 0u64;
    for i in 0..4 {
        let (d1, o1) = x[i].overflowing_sub(y[i]);
        let (d2, o2) = d1.overflowing_sub(borrow);
        out[i] = d2;
        borrow = (o1 || o2) as u64;
    }
    word(&out)
}

/// `a * m`, `None` on overflow.
pub fn mul_u64(a: &Word, m: u64) -> Option<Word> {
    let x = limbs(a);
    let mut out = [0u64; 4];
    let mut carry = 0u128;
    for i in 0..4 {
        let product = x[i] as u128 * m as u128 + carry;
        out[i] = product as u64;
        carry = product >> 64;
    }
    if carry != 0 {
        return None;
    }
    Some(word(&out))
}

/// `a / d` (d > 0), rounding down.
pub fn div_u64(a: &Word, d: u64) -> Word {
    let x = limbs(a);
    let mut out = [0u64; 4];
    let mut rem = 0u128;
    for i in (0..4).rev() {
        let cur = (rem << 64) | x[i] as u128;
        out[i] = (cur / d as u128) as u64;
        rem = cur % d as u128;
    }
    word(&out)
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

/// An address as a left-padded word.
pub fn from_address(address: &[u8; 20]) -> Word {
    let mut out = [0u8; 32];
    out[12..].copy_from_slice(address);
    out
}

/// The low 20 bytes of a word.
pub fn to_address(value: &Word) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&value[12..]);
    out
}
