//! KCStablecoin ("KC Dollar", KCUSD, 6 decimals) as a Stylus program: `#![no_std]`, no
//! crates, raw `vm_hooks`. ABI, events, errors and storage layout are those of the
//! Solidity twin `stylus_contracts/evm/KCStablecoin.sol`:
//!
//!   slot 0  mapping(address => uint256) balances      balances[a] at keccak(a . 0)
//!   slot 1  mapping(address => mapping(address => uint256)) allowances
//!           allowances[o][s] at keccak(s . keccak(o . 1))
//!   slot 2  uint256 totalSupply
//!   slot 3  address owner (set once by `initialize`)
//!
//! An allowance of 2**256-1 is never spent (OpenZeppelin's rule).
#![no_std]

#[path = "../support/mod.rs"]
mod support;

use support::abi::{self, checked, need, Address, Args, Outcome, Res};
use support::store;
use support::u256::{self, Word};

const SEL_INITIALIZE: [u8; 4] = [0xc4, 0xd6, 0x6d, 0xe8]; // initialize(address)
const SEL_NAME: [u8; 4] = [0x06, 0xfd, 0xde, 0x03]; // name()
const SEL_SYMBOL: [u8; 4] = [0x95, 0xd8, 0x9b, 0x41]; // symbol()
const SEL_DECIMALS: [u8; 4] = [0x31, 0x3c, 0xe5, 0x67]; // decimals()
const SEL_TOTAL_SUPPLY: [u8; 4] = [0x18, 0x16, 0x0d, 0xdd]; // totalSupply()
const SEL_BALANCE_OF: [u8; 4] = [0x70, 0xa0, 0x82, 0x31]; // balanceOf(address)
const SEL_ALLOWANCE: [u8; 4] = [0xdd, 0x62, 0xed, 0x3e]; // allowance(address,address)
const SEL_OWNER: [u8; 4] = [0x8d, 0xa5, 0xcb, 0x5b]; // owner()
const SEL_TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb]; // transfer(address,uint256)
const SEL_APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3]; // approve(address,uint256)
const SEL_TRANSFER_FROM: [u8; 4] = [0x23, 0xb8, 0x72, 0xdd]; // transferFrom(address,address,uint256)
const SEL_MINT: [u8; 4] = [0x40, 0xc1, 0x0f, 0x19]; // mint(address,uint256)
const ERR_BALANCE: [u8; 4] = [0xe4, 0x50, 0xd3, 0x8c]; // ERC20InsufficientBalance(address,uint256,uint256)
const ERR_ALLOWANCE: [u8; 4] = [0xfb, 0x8f, 0x41, 0xb2]; // ERC20InsufficientAllowance(address,uint256,uint256)
const ERR_RECEIVER: [u8; 4] = [0xec, 0x44, 0x2f, 0x05]; // ERC20InvalidReceiver(address)
const ERR_NOT_OWNER: [u8; 4] = [0x11, 0x8c, 0xda, 0xa7]; // OwnableUnauthorizedAccount(address)
const ERR_ALREADY_INITIALIZED: [u8; 4] = [0x0d, 0xc1, 0x49, 0xf0]; // AlreadyInitialized()
const ERR_INVALID_OWNER: [u8; 4] = [0xb2, 0x0f, 0x76, 0xe3]; // InvalidOwner(address)
const EVENT_TRANSFER: Word = [0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa, 0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef]; // Transfer(address,address,uint256)
const EVENT_APPROVAL: Word = [0x8c, 0x5b, 0xe1, 0xe5, 0xeb, 0xec, 0x7d, 0x5b, 0xd1, 0x4f, 0x71, 0x42, 0x7d, 0x1e, 0x84, 0xf3, 0xdd, 0x03, 0x14, 0xc0, 0xf7, 0xb2, 0x29, 0x1e, 0x5b, 0x20, 0x0a, 0xc8, 0xc7, 0xc3, 0xb9, 0x25]; // Approval(address,address,uint256)

const BALANCES: u64 = 0;
const ALLOWANCES: u64 = 1;
const TOTAL_SUPPLY: u64 = 2;
const OWNER: u64 = 3;

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
        SEL_TRANSFER => transfer(body),
        SEL_TRANSFER_FROM => transfer_from(body),
        SEL_APPROVE => approve(body),
        SEL_BALANCE_OF => balance_of(body),
        SEL_ALLOWANCE => allowance(body),
        SEL_TOTAL_SUPPLY => Ok(Outcome::word(&store::load_slot(TOTAL_SUPPLY))),
        SEL_DECIMALS => Ok(Outcome::word(&u256::from_u64(6))),
        SEL_NAME => Ok(Outcome::string(b"KC Dollar")),
        SEL_SYMBOL => Ok(Outcome::string(b"KCUSD")),
        SEL_OWNER => Ok(Outcome::word(&store::load_slot(OWNER))),
        SEL_MINT => mint(body),
        SEL_INITIALIZE => initialize(body),
        _ => Err(Outcome::empty_revert()),
    })
}

fn balance_slot(account: &Address) -> Word {
    store::address_slot(account, BALANCES)
}

fn allowance_slot(owner: &Address, spender: &Address) -> Word {
    store::mapping_slot(&u256::from_address(spender), &store::address_slot(owner, ALLOWANCES))
}

fn initialize(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let owner = need(args.address(0))?;
    if !u256::is_zero(&store::load_slot(OWNER)) {
        return Err(Outcome::error(ERR_ALREADY_INITIALIZED, &[]));
    }
    if owner == [0; 20] {
        return Err(Outcome::error(ERR_INVALID_OWNER, &[u256::ZERO]));
    }
    store::store_slot(OWNER, &u256::from_address(&owner));
    Ok(Outcome::ok(&[]))
}

fn balance_of(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    Ok(Outcome::word(&store::load(&balance_slot(&need(args.address(0))?))))
}

fn allowance(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 2))?;
    let (owner, spender) = (need(args.address(0))?, need(args.address(1))?);
    Ok(Outcome::word(&store::load(&allowance_slot(&owner, &spender))))
}

fn transfer(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 2))?;
    let to = need(args.address(0))?;
    move_tokens(&store::sender(), &to, &args.word(1))?;
    Ok(Outcome::boolean(true))
}

fn transfer_from(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 3))?;
    let (from, to) = (need(args.address(0))?, need(args.address(1))?);
    let amount = args.word(2);
    let spender = store::sender();
    let slot = allowance_slot(&from, &spender);
    let allowed = store::load(&slot);
    if allowed != u256::MAX {
        if u256::lt(&allowed, &amount) {
            let words = [u256::from_address(&spender), allowed, amount];
            return Err(Outcome::error(ERR_ALLOWANCE, &words));
        }
        store::store(&slot, &u256::sub(&allowed, &amount));
    }
    move_tokens(&from, &to, &amount)?;
    Ok(Outcome::boolean(true))
}

fn approve(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 2))?;
    let spender = need(args.address(0))?;
    let amount = args.word(1);
    let owner = store::sender();
    store::store(&allowance_slot(&owner, &spender), &amount);
    let topics = [EVENT_APPROVAL, u256::from_address(&owner), u256::from_address(&spender)];
    store::emit(&topics, &[amount]);
    Ok(Outcome::boolean(true))
}

fn mint(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 2))?;
    let to = need(args.address(0))?;
    let amount = args.word(1);
    let caller = store::sender();
    if store::load_slot(OWNER) != u256::from_address(&caller) {
        return Err(Outcome::error(ERR_NOT_OWNER, &[u256::from_address(&caller)]));
    }
    if to == [0; 20] {
        return Err(Outcome::error(ERR_RECEIVER, &[u256::ZERO]));
    }
    let supply = checked(u256::add(&store::load_slot(TOTAL_SUPPLY), &amount))?;
    store::store_slot(TOTAL_SUPPLY, &supply);
    let slot = balance_slot(&to);
    // cannot overflow: a balance never exceeds the total supply
    let balance = checked(u256::add(&store::load(&slot), &amount))?;
    store::store(&slot, &balance);
    store::emit(&[EVENT_TRANSFER, u256::ZERO, u256::from_address(&to)], &[amount]);
    Ok(Outcome::ok(&[]))
}

fn move_tokens(from: &Address, to: &Address, amount: &Word) -> Result<(), Outcome> {
    if *to == [0; 20] {
        return Err(Outcome::error(ERR_RECEIVER, &[u256::ZERO]));
    }
    let from_slot = balance_slot(from);
    let balance = store::load(&from_slot);
    if u256::lt(&balance, amount) {
        let words = [u256::from_address(from), balance, *amount];
        return Err(Outcome::error(ERR_BALANCE, &words));
    }
    store::store(&from_slot, &u256::sub(&balance, amount));
    let to_slot = balance_slot(to);
    let credited = checked(u256::add(&store::load(&to_slot), amount))?;
    store::store(&to_slot, &credited);
    store::emit(&[EVENT_TRANSFER, u256::from_address(from), u256::from_address(to)], &[*amount]);
    Ok(())
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
