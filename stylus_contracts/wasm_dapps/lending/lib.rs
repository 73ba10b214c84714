//! LendingPool as a Stylus program: `#![no_std]`, no crates, raw `vm_hooks`. ABI, events,
//! errors and storage layout are those of the Solidity twin
//! `stylus_contracts/evm/LendingPool.sol`:
//!
//!   slot 0  address token                       (set once by `initialize`)
//!   slot 1  mapping(address => uint256) deposits
//!   slot 2  uint256 totalDeposits
//!   slot 3  uint256 totalBorrowed               outstanding principal
//!   slot 4  uint256 interestEarned              interest repaid (and paid by liquidators)
//!   slot 5  mapping(address => Loan) loans      base b = keccak(borrower . 5):
//!           b + 0 collateral (wei), b + 1 principal (token units), b + 2 since (timestamp)
//!   slot 6  uint256 openLoans
//!   slot 7  uint256 liquidations
//!
//! Lenders deposit tokens. A borrower posts ETH with `borrow(amount)` and gets up to
//! `collateral * PRICE / 1e18 * 7500 / 10000` tokens; interest accrues per second,
//! `principal * elapsed / 1e6`. `repay()` takes principal + interest and returns the ETH;
//! a loan whose debt exceeds that limit can be `liquidate`d by anyone who pays the debt
//! and takes the collateral.
#![no_std]

#[path = "../support/mod.rs"]
mod support;

use support::abi::{self, checked, need, Address, Args, Outcome, Res};
use support::call;
use support::store;
use support::u256::{self, Word};

const SEL_INITIALIZE: [u8; 4] = [0xc4, 0xd6, 0x6d, 0xe8]; // initialize(address)
const SEL_DEPOSIT: [u8; 4] = [0xb6, 0xb5, 0x5f, 0x25]; // deposit(uint256)
const SEL_BORROW: [u8; 4] = [0xc5, 0xeb, 0xea, 0xec]; // borrow(uint256)
const SEL_REPAY: [u8; 4] = [0x40, 0x2d, 0x88, 0x83]; // repay()
const SEL_LIQUIDATE: [u8; 4] = [0x2f, 0x86, 0x55, 0x68]; // liquidate(address)
const SEL_TOKEN: [u8; 4] = [0xfc, 0x0c, 0x54, 0x6a]; // token()
const SEL_LOAN_OF: [u8; 4] = [0xdc, 0x55, 0x0b, 0x1b]; // loanOf(address)
const SEL_DEBT_OF: [u8; 4] = [0xd2, 0x83, 0xe7, 0x5f]; // debtOf(address)
const SEL_MAX_BORROW: [u8; 4] = [0x61, 0xb2, 0x4c, 0x37]; // maxBorrow(uint256)
const SEL_DEPOSIT_OF: [u8; 4] = [0x23, 0xe3, 0xfb, 0xd5]; // depositOf(address)
const SEL_TOTAL_DEPOSITS: [u8; 4] = [0x7d, 0x88, 0x20, 0x97]; // totalDeposits()
const SEL_TOTAL_BORROWED: [u8; 4] = [0x4c, 0x19, 0x38, 0x6c]; // totalBorrowed()
const SEL_INTEREST_EARNED: [u8; 4] = [0x37, 0x42, 0x61, 0xab]; // interestEarned()
const SEL_OPEN_LOANS: [u8; 4] = [0x7d, 0xd1, 0x7e, 0xff]; // openLoans()
const SEL_LIQUIDATIONS: [u8; 4] = [0x9a, 0x37, 0x1c, 0x84]; // liquidations()
const ERR_ALREADY_INITIALIZED: [u8; 4] = [0x0d, 0xc1, 0x49, 0xf0]; // AlreadyInitialized()
const ERR_INVALID_TOKEN: [u8; 4] = [0x96, 0x1c, 0x9a, 0x4f]; // InvalidToken(address)
const ERR_ZERO_AMOUNT: [u8; 4] = [0x1f, 0x2a, 0x20, 0x05]; // ZeroAmount()
const ERR_LOAN_OPEN: [u8; 4] = [0xcd, 0xfe, 0x36, 0x20]; // LoanAlreadyOpen(address)
const ERR_LIMIT: [u8; 4] = [0xd7, 0x71, 0xd8, 0xe9]; // BorrowLimitExceeded(uint256,uint256)
const ERR_LIQUIDITY: [u8; 4] = [0xa1, 0x7e, 0x11, 0xd5]; // InsufficientLiquidity(uint256,uint256)
const ERR_NO_LOAN: [u8; 4] = [0x47, 0xaf, 0xd7, 0x9c]; // NoLoan(address)
const ERR_HEALTHY: [u8; 4] = [0x56, 0x4c, 0xeb, 0xca]; // LoanHealthy(address,uint256,uint256)
const ERR_COLLATERAL: [u8; 4] = [0xb8, 0xa2, 0x37, 0x13]; // CollateralTransferFailed(address)
const EVENT_DEPOSITED: Word = [0x2d, 0xa4, 0x66, 0xa7, 0xb2, 0x43, 0x04, 0xf4, 0x7e, 0x87, 0xfa, 0x2e, 0x1e, 0x5a, 0x81, 0xb9, 0x83, 0x1c, 0xe5, 0x4f, 0xec, 0x19, 0x05, 0x5c, 0xe2, 0x77, 0xca, 0x2f, 0x39, 0xba, 0x42, 0xc4]; // Deposited(address,uint256)
const EVENT_BORROWED: Word = [0xea, 0xe9, 0xcf, 0xbc, 0x77, 0xfd, 0xd4, 0x0c, 0xa8, 0x99, 0xf3, 0x6b, 0x60, 0x82, 0x56, 0x06, 0x3b, 0x2b, 0xc9, 0xd8, 0x17, 0x8b, 0x02, 0x20, 0xf7, 0xad, 0x51, 0x3e, 0x17, 0x8d, 0x67, 0x30]; // Borrowed(address,uint256,uint256)
const EVENT_REPAID: Word = [0x1b, 0x8c, 0xd6, 0x1e, 0xd4, 0x3b, 0xec, 0x7c, 0x6b, 0xda, 0xd3, 0xa1, 0x8f, 0xfe, 0xe6, 0x13, 0xf9, 0x9c, 0x85, 0x3d, 0x16, 0xc5, 0x06, 0x78, 0xd2, 0x48, 0xd8, 0x79, 0xe1, 0xb4, 0x34, 0x38]; // Repaid(address,uint256,uint256)
const EVENT_LIQUIDATED: Word = [0x1f, 0x0c, 0x66, 0x15, 0x42, 0x9d, 0x1c, 0xda, 0xe0, 0xdf, 0xa2, 0x33, 0xab, 0xf9, 0x1d, 0x3b, 0x31, 0xcd, 0xbd, 0xd8, 0x2c, 0x80, 0x81, 0x38, 0x98, 0x32, 0xa6, 0x1e, 0x10, 0x72, 0xf1, 0xea]; // Liquidated(address,address,uint256,uint256)

const TOKEN: u64 = 0;
const DEPOSITS: u64 = 1;
const TOTAL_DEPOSITS: u64 = 2;
const TOTAL_BORROWED: u64 = 3;
const INTEREST_EARNED: u64 = 4;
const LOANS: u64 = 5;
const OPEN_LOANS: u64 = 6;
const LIQUIDATIONS: u64 = 7;

const PRICE: u64 = 2_000_000_000; // token units (6 decimals) per 1e18 wei: 2000 KCUSD/ETH
const WAD: u64 = 1_000_000_000_000_000_000;
const COLLATERAL_FACTOR_BPS: u64 = 7500;
const BPS: u64 = 10_000;
const RATE_DIVISOR: u64 = 1_000_000; // interest per second = principal / 1e6

struct Loan {
    base: Word,
    collateral: Word,
    principal: Word,
    since: Word,
}

#[no_mangle]
pub extern "C" fn user_entrypoint(len: usize) -> usize {
    store::run(len, dispatch)
}

fn dispatch(args: &'static [u8]) -> Outcome {
    let selector = match abi::selector(args) {
        Some(selector) => selector,
        None => return Outcome::empty_revert(),
    };
    if selector != SEL_BORROW && !u256::is_zero(&store::value()) {
        return Outcome::empty_revert(); // only borrow is payable
    }
    let body = &args[4..];
    abi::finish(match selector {
        SEL_BORROW => borrow(body),
        SEL_REPAY => repay(),
        SEL_DEPOSIT => deposit(body),
        SEL_LIQUIDATE => liquidate(body),
        SEL_LOAN_OF => loan_of(body),
        SEL_DEBT_OF => debt_of(body),
        SEL_MAX_BORROW => max_borrow_of(body),
        SEL_DEPOSIT_OF => deposit_of(body),
        SEL_TOTAL_DEPOSITS => Ok(Outcome::word(&store::load_slot(TOTAL_DEPOSITS))),
        SEL_TOTAL_BORROWED => Ok(Outcome::word(&store::load_slot(TOTAL_BORROWED))),
        SEL_INTEREST_EARNED => Ok(Outcome::word(&store::load_slot(INTEREST_EARNED))),
        SEL_OPEN_LOANS => Ok(Outcome::word(&store::load_slot(OPEN_LOANS))),
        SEL_LIQUIDATIONS => Ok(Outcome::word(&store::load_slot(LIQUIDATIONS))),
        SEL_TOKEN => Ok(Outcome::word(&store::load_slot(TOKEN))),
        SEL_INITIALIZE => initialize(body),
        _ => Err(Outcome::empty_revert()),
    })
}

fn token() -> Address {
    u256::to_address(&store::load_slot(TOKEN))
}

fn add_slot(slot: u64, amount: &Word) -> Result<(), Outcome> {
    let total = checked(u256::add(&store::load_slot(slot), amount))?;
    store::store_slot(slot, &total);
    Ok(())
}

/// `collateral * PRICE / 1e18 * 7500 / 10000`, each step as solc computes it.
fn max_borrow(collateral: &Word) -> Result<Word, Outcome> {
    let value = u256::div_u64(&checked(u256::mul_u64(collateral, PRICE))?, WAD);
    Ok(u256::div_u64(&checked(u256::mul_u64(&value, COLLATERAL_FACTOR_BPS))?, BPS))
}

fn load_loan(borrower: &Address) -> Loan {
    let base = store::address_slot(borrower, LOANS);
    Loan {
        collateral: store::load(&base),
        principal: store::load(&u256::add(&base, &u256::from_u64(1)).unwrap_or(u256::ZERO)),
        since: store::load(&u256::add(&base, &u256::from_u64(2)).unwrap_or(u256::ZERO)),
        base,
    }
}

fn loan_field(loan: &Loan, index: u64) -> Word {
    u256::add(&loan.base, &u256::from_u64(index)).unwrap_or(u256::ZERO)
}

/// (interest, principal + interest) at the current block time.
fn debt(loan: &Loan) -> Result<(Word, Word), Outcome> {
    let now = u256::from_u64(store::timestamp());
    if u256::lt(&now, &loan.since) {
        return Err(Outcome::panic_overflow()); // solc's checked `block.timestamp - since`
    }
    let elapsed = need(u256::to_u64(&u256::sub(&now, &loan.since)))?;
    let interest = u256::div_u64(&checked(u256::mul_u64(&loan.principal, elapsed))?, RATE_DIVISOR);
    Ok((interest, checked(u256::add(&loan.principal, &interest))?))
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

fn deposit(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let amount = args.word(0);
    if u256::is_zero(&amount) {
        return Err(Outcome::error(ERR_ZERO_AMOUNT, &[]));
    }
    let lender = store::sender();
    let slot = store::address_slot(&lender, DEPOSITS);
    let total = checked(u256::add(&store::load(&slot), &amount))?;
    store::store(&slot, &total);
    add_slot(TOTAL_DEPOSITS, &amount)?;
    call::transfer_from(&token(), &lender, &store::this(), &amount)?;
    store::emit(&[EVENT_DEPOSITED, u256::from_address(&lender)], &[amount]);
    Ok(Outcome::ok(&[]))
}

fn borrow(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let amount = args.word(0);
    if u256::is_zero(&amount) {
        return Err(Outcome::error(ERR_ZERO_AMOUNT, &[]));
    }
    let borrower = store::sender();
    let loan = load_loan(&borrower);
    if !u256::is_zero(&loan.principal) {
        return Err(Outcome::error(ERR_LOAN_OPEN, &[u256::from_address(&borrower)]));
    }
    let collateral = store::value();
    let limit = max_borrow(&collateral)?;
    if u256::lt(&limit, &amount) {
        return Err(Outcome::error(ERR_LIMIT, &[amount, limit]));
    }
    let token = token();
    let cash = call::balance_of(&token, &store::this())?;
    if u256::lt(&cash, &amount) {
        return Err(Outcome::error(ERR_LIQUIDITY, &[amount, cash]));
    }
    store::store(&loan.base, &collateral);
    store::store(&loan_field(&loan, 1), &amount);
    store::store(&loan_field(&loan, 2), &u256::from_u64(store::timestamp()));
    add_slot(TOTAL_BORROWED, &amount)?;
    add_slot(OPEN_LOANS, &u256::from_u64(1))?;
    call::transfer(&token, &borrower, &amount)?;
    store::emit(&[EVENT_BORROWED, u256::from_address(&borrower)], &[amount, collateral]);
    Ok(Outcome::ok(&[]))
}

/// Closes `loan`: books it as repaid, pulls `due` from `payer`, sends the collateral to
/// `receiver`.
fn close(loan: &Loan, interest: &Word, due: &Word, payer: &Address, receiver: &Address)
    -> Result<(), Outcome> {
    for index in 0..3 {
        store::store(&loan_field(loan, index), &u256::ZERO);
    }
    let borrowed = store::load_slot(TOTAL_BORROWED);
    if u256::lt(&borrowed, &loan.principal) {
        return Err(Outcome::panic_overflow());
    }
    store::store_slot(TOTAL_BORROWED, &u256::sub(&borrowed, &loan.principal));
    add_slot(INTEREST_EARNED, interest)?;
    let open = store::load_slot(OPEN_LOANS);
    if u256::is_zero(&open) {
        return Err(Outcome::panic_overflow());
    }
    store::store_slot(OPEN_LOANS, &u256::sub(&open, &u256::from_u64(1)));
    call::transfer_from(&token(), payer, &store::this(), due)?;
    if !call::send_value(receiver, &loan.collateral) {
        return Err(Outcome::error(ERR_COLLATERAL, &[u256::from_address(receiver)]));
    }
    Ok(())
}

fn repay() -> Res {
    let borrower = store::sender();
    let loan = load_loan(&borrower);
    if u256::is_zero(&loan.principal) {
        return Err(Outcome::error(ERR_NO_LOAN, &[u256::from_address(&borrower)]));
    }
    let (interest, due) = debt(&loan)?;
    close(&loan, &interest, &due, &borrower, &borrower)?;
    store::emit(&[EVENT_REPAID, u256::from_address(&borrower)], &[loan.principal, interest]);
    Ok(Outcome::ok(&[]))
}

fn liquidate(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let borrower = need(args.address(0))?;
    let loan = load_loan(&borrower);
    if u256::is_zero(&loan.principal) {
        return Err(Outcome::error(ERR_NO_LOAN, &[u256::from_address(&borrower)]));
    }
    let (interest, due) = debt(&loan)?;
    let limit = max_borrow(&loan.collateral)?;
    if !u256::lt(&limit, &due) {
        return Err(Outcome::error(ERR_HEALTHY, &[u256::from_address(&borrower), due, limit]));
    }
    add_slot(LIQUIDATIONS, &u256::from_u64(1))?;
    let liquidator = store::sender();
    close(&loan, &interest, &due, &liquidator, &liquidator)?;
    let topics = [EVENT_LIQUIDATED, u256::from_address(&borrower), u256::from_address(&liquidator)];
    store::emit(&topics, &[due, loan.collateral]);
    Ok(Outcome::ok(&[]))
}

fn loan_of(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let loan = load_loan(&need(args.address(0))?);
    Ok(Outcome::words(&[loan.collateral, loan.principal, loan.since]))
}

fn debt_of(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    let loan = load_loan(&need(args.address(0))?);
    Ok(Outcome::word(&debt(&loan)?.1))
}

fn max_borrow_of(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    Ok(Outcome::word(&max_borrow(&args.word(0))?))
}

fn deposit_of(body: &'static [u8]) -> Res {
    let args = need(Args::with(body, 1))?;
    Ok(Outcome::word(&store::load(&store::address_slot(&need(args.address(0))?, DEPOSITS))))
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
