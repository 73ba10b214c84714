//! Shared no_std support of the dApp programs: host ABI, bump allocator, 256-bit words,
//! ABI decoding as solc does it, storage, events and calls out.
//! Each program includes it with `#[path = "../support/mod.rs"] mod support;`.
#![allow(dead_code)]

pub mod abi;
pub mod call;
pub mod hostio;
pub mod mem;
pub mod store;
pub mod u256;
