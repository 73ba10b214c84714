//! PaymentRouter as a Stylus program: `#![no_std]`, no crates, raw `vm_hooks`. ABI, events,
//! errors and storage layout are those of the Solidity twin
//! `stylus_contracts/evm/PaymentRouter.sol`:
//!
//!   slot 0  address token                                  (set once by `initialize`)
//!   slot 1  mapping(address => uint256) escrow             escrow[m] at keccak(m . 1)
//!   slot 2  mapping(address => uint256) received           total ever paid to m
//!   slot 3  mapping(address => uint256) settled            total ever paid out for m
//!   slot 4  mapping(address => address) settlementAddress  where m's escrow is paid out
//!   slot 5  uint256 paymentCount
//!
//! `pay` books the payment, then pulls the tokens with `transferFrom` (a call into the
//! token program: WASM calling WASM, or WASM calling the EVM twin); `settle` zeroes the
//! escrow, then `transfer`s it out. A failed token call bubbles its revert data.
#![no_std]

#[path = "../support/mod.rs"]
mod support;

use support::abi::{self, checked, need, Address, Args, Outcome, Res};
use support::call;
use support::store;
use support::u256::{self, Word};

const SEL_INITIALIZE: [u8; 4] = [0xc4, 0xd6, 0x6d, 0xe8]; // initialize(address)
const SEL_SET_SETTLEMENT: [u8; 4] = [0x73, 0xa3, 0xcc, 0x23]; // setSettlementAddress(address)
const SEL_PAY: [u8; 4] = [0x5e, 0x55, 0x71, 0xac]; // pay(address,uint256,bytes32)
const SEL_SETTLE: [u8; 4] = [0x6a, 0x25, 0x6b, 0x29]; // settle(address)
const SEL_TOKEN: [u8; 4] = [0xfc, 0x0c, 0x54, 0x6a]; // token()
const SEL_ESCROW: [u8; 4] = [0xe0, 0x38, 0xc3, 0xda]; // escrowOf(address)
const SEL_RECEIVED: [u8; 4] = [0x2e, 0x42, 0x88, 0x64]; // receivedOf(address)
const SEL_SETTLED: [u8; 4] = [0x05, 0xca, 0xf4, 0x3c]; // settledOf(address)
const SEL_SETTLEMENT_OF: [u8; 4] = [0xfc, 0x67, 0x39, 0x9d]; // settlementAddressOf(address)
const SEL_PAYMENT_COUNT: [u8; 4] = [0x09, 0x37, 0xe6, 0x8a]; // paymentCount()
const ERR_ALREADY_INITIALIZED: [u8; 4] = [0x0d, 0xc1, 0x49, 0xf0]; // AlreadyInitialized()
const ERR_INVALID_TOKEN: [u8; 4] = [0x96, 0x1c, 0x9a, 0x4f]; // InvalidToken(address)
const ERR_INVALID_MERCHANT: [u8; 4] = [0xfb, 0xc8, 0xce, 0x7e]; // InvalidMerchant(address)
const ERR_INVALID_SETTLEMENT: [u8; 4] = [0x78, 0xc8, 0xb5, 0xdf]; // InvalidSettlementAddress()
const ERR_ZERO_AMOUNT: [u8; 4] = [0x1f, 0x2a, 0x20, 0x05]; // ZeroAmount()
const EVENT_PAYMENT: Word = [0x1c, 0x51, 0x7e, 0x85, 0xac, 0xde, 0xde, 0x9b, 0x6d, 0xbd, 0xaa, 0xb4, 0x92, 0x5d, 0x20, 0xd3, 0x55, 0x1f, 0x29, 0x61, 0xe9, 0xa8, 0x60, 0xe7, 0x26, 0x58, 0xe1, 0x76, 0x9f, 0x15, 0x03, 0x22]; // PaymentReceived(bytes32,address,address,uint256)
const EVENT_SETTLED: Word = [0x7e, 0x79, 0xa2, 0x20, 0x60, 0x61, 0x18, 0x4e, 0x05, 0x98, 0x5a, 0xe0, 0x57, 0x8d, 0xec, 0x52, 0xf8, 0x17, 0x75, 0x6a, 0x44, 0x19, 0x96, 0xf9, 0x84, 0xcd, 0xc8, 0x17, 0xef, 0xc2, 0x5a, 0x68]; // Settled(address,address,uint256)
const EVENT_SETTLEMENT_SET: Word = [0x63, 0xd2, 0x33, 0x30, 0x4a, 0xfc, 0xd7, 0x94, 0x6f, 0x7c, 0x82, 0xf1, 0x5b, 0x67, 0x00, 0x4b, 0xae, 0x9e, 0x2c, 0xa9, 0xb4, 0x97, 0x16, 0x3c, 0x66, 0xf6, 0xb0, 0x00, 0x2e, 0x77, 0xa8, 0xc1]; // SettlementAddressSet(address,address)

const TOKEN: u64 = 0;
const ESCROW: u64 = 1;
const RECEIVED: u64 = 2;
const SETTLED: u64 = 3;
const SETTLEMENT: u64 = 4;
const PAYMENT_COUNT: u64 = 5;

#[no_mangle]
pub extern "C" fn user_entrypoint(len: usize) -> usize {
    store::run(len, dispatch)
}

fn dispatch(args: &'static [u8]) -> Outcome {
    let selector = match abi::selector(args) {
        Some(selector) => selector,
        None => return Outcome::empty_revert(),
    };
    if !u256::is_zero(&store::value()) {
        return Outcome::empty_revert(); // every function is non-payable
    }
    let body = &args[4..];
    abi::finish(match selector {
        SEL_PAY => pay(body),
        SEL_SETTLE => settle(body),
        SEL_ESCROW => read_mapping(body, ESCROW),
        SEL_RECEIVED => read_mapping(body, RECEIVED),
        SEL_SETTLED => read_mapping(body, SETTLED),
        SEL_SETTLEMENT_OF => read_mapping(body, SETTLEMENT),
        SEL_TOKEN => Ok(Outcome::word(&store::load_slot(TOKEN))),
        SEL_PAYMENT_COUNT => Ok(Outcome::word(&store::load_slot(PAYMENT_COUNT))),
        SEL_SET_SETTLEMENT => set_settlement(body),
        SEL_INITIALIZE => initialize(body),
        _ => Err(Outcome::empty_revert()),
    })
}

fn token() -> Address {
    u256::to_address(&store::load_slot(TOKEN))
}

fn read_mapping(body: &'static [u8], slot: u64) -> Res {
    let args = need(Args::with(body, 1))?;
    Ok(Outcome::word(&store::load(&store::address_slot(&need(args.address(0))?, slot))))
}

fn add_to(slot: &Word, amount: &Word) -> Result<(), Outcome> {
    let total = checked(u256::add(&store::load(slot), amount))?;
    store::store(slot, &total);
    Ok(())
}

fn initialize(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let token = need(args.address(0))?;
    if !u256::is_zero(&store::load_slot(TOKEN)) {
        return Err(Outcome::error(ERR_ALREADY_INITIALIZED, &[]));
    }
    if token == [0; 20] {
        return Err(Outcome::error(ERR_INVALID_TOKEN, &[u256::ZERO]));
    }
    store::store_slot(TOKEN, &u256::from_address(&token));
    Ok(Outcome::ok(&[]))
}

fn set_settlement(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let to = need(args.address(0))?;
    if to == [0; 20] {
        return Err(Outcome::error(ERR_INVALID_SETTLEMENT, &[]));
    }
    let merchant = store::sender();
    store::store(&store::address_slot(&merchant, SETTLEMENT), &u256::from_address(&to));
    let topics = [EVENT_SETTLEMENT_SET, u256::from_address(&merchant), u256::from_address(&to)];
    store::emit(&topics, &[]);
    Ok(Outcome::ok(&[]))
}

fn pay(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 3))?;
    let merchant = need(args.address(0))?;
    let (amount, order_ref) = (args.word(1), args.word(2));
    if u256::is_zero(&amount) {
        return Err(Outcome::error(ERR_ZERO_AMOUNT, &[]));
    }
    if merchant == [0; 20] {
        return Err(Outcome::error(ERR_INVALID_MERCHANT, &[u256::ZERO]));
    }
    add_to(&store::address_slot(&merchant, ESCROW), &amount)?;
    add_to(&store::address_slot(&merchant, RECEIVED), &amount)?;
    add_to(&u256::from_u64(PAYMENT_COUNT), &u256::from_u64(1))?;
    let payer = store::sender();
    call::transfer_from(&token(), &payer, &store::this(), &amount)?;
    let topics = [EVENT_PAYMENT, order_ref, u256::from_address(&merchant),
                  u256::from_address(&payer)];
    store::emit(&topics, &[amount]);
    Ok(Outcome::ok(&[]))
}

fn settle(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let merchant = need(args.address(0))?;
    let escrow_slot = store::address_slot(&merchant, ESCROW);
    let amount = store::load(&escrow_slot);
    if u256::is_zero(&amount) {
        return Ok(Outcome::word(&u256::ZERO)); // nothing to pay out: no transfer, no event
    }
    let mut to = u256::to_address(&store::load(&store::address_slot(&merchant, SETTLEMENT)));
    if to == [0; 20] {
        to = merchant;
    }
    store::store(&escrow_slot, &u256::ZERO);
    add_to(&store::address_slot(&merchant, SETTLED), &amount)?;
    call::transfer(&token(), &to, &amount)?;
    let topics = [EVENT_SETTLED, u256::from_address(&merchant), u256::from_address(&to)];
    store::emit(&topics, &[amount]);
    Ok(Outcome::word(&amount))
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
