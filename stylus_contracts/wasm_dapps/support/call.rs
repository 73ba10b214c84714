//! Calls out to other contracts (`call_contract` / `static_call_contract`), and the ERC-20
//! calls the router and the pool make, with the Solidity twins' exact failure rules:
//! a failed call bubbles its revert data; a call that succeeds without returning the
//! word 1 fails with `TokenCallFailed(token)`.

use super::abi::{self, Address, Outcome};
use super::hostio;
use super::mem;
use super::store;
use super::u256::{self, Word};

/// keccak256("TokenCallFailed(address)")[..4]
pub const ERR_TOKEN_CALL_FAILED: [u8; 4] = [0xfe, 0xcb, 0x69, 0xb4]; // TokenCallFailed(address)
pub const SEL_TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb]; // transfer(address,uint256)
pub const SEL_TRANSFER_FROM: [u8; 4] = [0x23, 0xb8, 0x72, 0xdd]; // transferFrom(address,address,uint256)
pub const SEL_BALANCE_OF: [u8; 4] = [0x70, 0xa0, 0x82, 0x31]; // balanceOf(address)

/// The return data of the last call, copied into memory.
fn return_data(len: usize) -> &'static [u8] {
    let out = mem::alloc(len);
    if len > 0 {
        unsafe { hostio::read_return_data(out.as_mut_ptr(), 0, len) };
    }
    out
}

/// CALL with all the gas the 63/64 rule allows; the storage cache is flushed (and
/// cleared) first, so the callee and any reentrant call see this call's writes.
pub fn call(to: &Address, data: &[u8], value: &Word) -> (bool, &'static [u8]) {
    store::flush(true);
    let mut len: usize = 0;
    let status = unsafe {
        hostio::call_contract(to.as_ptr(), data.as_ptr(), data.len(), value.as_ptr(), u64::MAX,
                              &mut len)
    };
    (status == 0, return_data(len))
}

/// STATICCALL with all the gas the 63/64 rule allows.
pub fn static_call(to: &Address, data: &[u8]) -> (bool, &'static [u8]) {
    store::flush(true);
    let mut len: usize = 0;
    let status = unsafe {
        hostio::static_call_contract(to.as_ptr(), data.as_ptr(), data.len(), u64::MAX, &mut len)
    };
    (status == 0, return_data(len))
}

fn token_result(token: &Address, ok: bool, ret: &'static [u8]) -> Result<Word, Outcome> {
    if !ok {
        return Err(Outcome { data: ret, revert: true });
    }
    if ret.len() < 32 {
        return Err(Outcome::error(ERR_TOKEN_CALL_FAILED, &[u256::from_address(token)]));
    }
    Ok(u256::load(ret, 0))
}

fn require_true(token: &Address, ok: bool, ret: &'static [u8]) -> Result<(), Outcome> {
    let word = token_result(token, ok, ret)?;
    if word != u256::from_u64(1) {
        return Err(Outcome::error(ERR_TOKEN_CALL_FAILED, &[u256::from_address(token)]));
    }
    Ok(())
}

pub fn transfer(token: &Address, to: &Address, amount: &Word) -> Result<(), Outcome> {
    let data = abi::encode(Some(SEL_TRANSFER), &[u256::from_address(to), *amount]);
    let (ok, ret) = call(token, data, &u256::ZERO);
    require_true(token, ok, ret)
}

pub fn transfer_from(token: &Address, from: &Address, to: &Address, amount: &Word)
    -> Result<(), Outcome> {
    let data = abi::encode(
        Some(SEL_TRANSFER_FROM),
        &[u256::from_address(from), u256::from_address(to), *amount],
    );
    let (ok, ret) = call(token, data, &u256::ZERO);
    require_true(token, ok, ret)
}

pub fn balance_of(token: &Address, account: &Address) -> Result<Word, Outcome> {
    let data = abi::encode(Some(SEL_BALANCE_OF), &[u256::from_address(account)]);
    let (ok, ret) = static_call(token, data);
    token_result(token, ok, ret)
}

/// Sends `amount` wei to `to` (a plain CALL with value and no data).
pub fn send_value(to: &Address, amount: &Word) -> bool {
    call(to, &[], amount).0
}
