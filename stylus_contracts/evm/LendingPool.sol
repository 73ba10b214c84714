// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title LendingPool (EVM twin): token deposits, ETH-collateralised loans, per-second
///        interest, repayment and liquidation.
/// @dev Twin of the Stylus program ../wasm_dapps/lending/lib.rs: same ABI, events, errors
///      and storage layout:
///        slot 0  address token
///        slot 1  mapping(address => uint256) deposits
///        slot 2  uint256 totalDeposits
///        slot 3  uint256 totalBorrowed    (outstanding principal)
///        slot 4  uint256 interestEarned   (interest repaid, by borrowers or liquidators)
///        slot 5  mapping(address => Loan) loans   (collateral, principal, since)
///        slot 6  uint256 openLoans
///        slot 7  uint256 liquidations
///      Limit: collateral * PRICE / 1e18 * 7500 / 10000 tokens; interest:
///      principal * seconds / 1e6. A loan whose debt exceeds its limit can be liquidated.
contract LendingPool {
    struct Loan {
        uint256 collateral;
        uint256 principal;
        uint256 since;
    }

    uint256 private constant PRICE = 2_000_000_000; // token units per 1e18 wei
    uint256 private constant WAD = 1e18;
    uint256 private constant COLLATERAL_FACTOR_BPS = 7500;
    uint256 private constant BPS = 10_000;
    uint256 private constant RATE_DIVISOR = 1_000_000;

    address private token_;
    mapping(address => uint256) private deposits;
    uint256 private deposited;
    uint256 private borrowed;
    uint256 private earned;
    mapping(address => Loan) private loans;
    uint256 private open;
    uint256 private liquidated;

    event Deposited(address indexed lender, uint256 amount);
    event Borrowed(address indexed borrower, uint256 amount, uint256 collateral);
    event Repaid(address indexed borrower, uint256 principal, uint256 interest);
    event Liquidated(
        address indexed borrower, address indexed liquidator, uint256 debt, uint256 collateral
    );

    error AlreadyInitialized();
    error InvalidToken(address token);
    error ZeroAmount();
    error LoanAlreadyOpen(address borrower);
    error BorrowLimitExceeded(uint256 amount, uint256 limit);
    error InsufficientLiquidity(uint256 amount, uint256 cash);
    error NoLoan(address borrower);
    error LoanHealthy(address borrower, uint256 debt, uint256 limit);
    error TokenCallFailed(address token);
    error CollateralTransferFailed(address to);

    function initialize(address newToken) external {
        if (token_ != address(0)) revert AlreadyInitialized();
        if (newToken == address(0)) revert InvalidToken(address(0));
        token_ = newToken;
    }

    function token() external view returns (address) {
        return token_;
    }

    function depositOf(address lender) external view returns (uint256) {
        return deposits[lender];
    }

    function totalDeposits() external view returns (uint256) {
        return deposited;
    }

    function totalBorrowed() external view returns (uint256) {
        return borrowed;
    }

    function interestEarned() external view returns (uint256) {
        return earned;
    }

    function openLoans() external view returns (uint256) {
        return open;
    }

    function liquidations() external view returns (uint256) {
        return liquidated;
    }

    function loanOf(address borrower) external view returns (uint256, uint256, uint256) {
        Loan storage loan = loans[borrower];
        return (loan.collateral, loan.principal, loan.since);
    }

    function debtOf(address borrower) external view returns (uint256) {
        (, uint256 due) = _debt(loans[borrower]);
        return due;
    }

    function maxBorrow(uint256 collateral) external pure returns (uint256) {
        return _limit(collateral);
    }

    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        deposits[msg.sender] += amount;
        deposited += amount;
        _tokenCall(abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount));
        emit Deposited(msg.sender, amount);
    }

    function borrow(uint256 amount) external payable {
        if (amount == 0) revert ZeroAmount();
        Loan storage loan = loans[msg.sender];
        if (loan.principal != 0) revert LoanAlreadyOpen(msg.sender);
        uint256 limit = _limit(msg.value);
        if (amount > limit) revert BorrowLimitExceeded(amount, limit);
        uint256 cash = _cash();
        if (amount > cash) revert InsufficientLiquidity(amount, cash);
        loan.collateral = msg.value;
        loan.principal = amount;
        loan.since = block.timestamp;
        borrowed += amount;
        open += 1;
        _tokenCall(abi.encodeWithSelector(0xa9059cbb, msg.sender, amount));
        emit Borrowed(msg.sender, amount, msg.value);
    }

    function repay() external {
        Loan memory loan = loans[msg.sender];
        if (loan.principal == 0) revert NoLoan(msg.sender);
        (uint256 interest, uint256 due) = _debt(loan);
        _close(msg.sender, loan, interest, due, msg.sender);
        emit Repaid(msg.sender, loan.principal, interest);
    }

    function liquidate(address borrower) external {
        Loan memory loan = loans[borrower];
        if (loan.principal == 0) revert NoLoan(borrower);
        (uint256 interest, uint256 due) = _debt(loan);
        uint256 limit = _limit(loan.collateral);
        if (due <= limit) revert LoanHealthy(borrower, due, limit);
        liquidated += 1;
        _close(borrower, loan, interest, due, msg.sender);
        emit Liquidated(borrower, msg.sender, due, loan.collateral);
    }

    function _close(address borrower, Loan memory loan, uint256 interest, uint256 due,
                    address payer) private {
        delete loans[borrower];
        borrowed -= loan.principal;
        earned += interest;
        open -= 1;
        _tokenCall(abi.encodeWithSelector(0x23b872dd, payer, address(this), due));
        (bool ok, ) = payable(payer).call{value: loan.collateral}("");
        if (!ok) revert CollateralTransferFailed(payer);
    }

    function _limit(uint256 collateral) private pure returns (uint256) {
        return collateral * PRICE / WAD * COLLATERAL_FACTOR_BPS / BPS;
    }

    function _debt(Loan memory loan) private view returns (uint256 interest, uint256 due) {
        interest = loan.principal * (block.timestamp - loan.since) / RATE_DIVISOR;
        due = loan.principal + interest;
    }

    function _cash() private view returns (uint256) {
        (bool ok, bytes memory ret) = token_.staticcall(
            abi.encodeWithSelector(0x70a08231, address(this))
        );
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (ret.length < 32) revert TokenCallFailed(token_);
        return uint256(bytes32(ret));
    }

    function _tokenCall(bytes memory data) private {
        (bool ok, bytes memory ret) = token_.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (ret.length < 32 || uint256(bytes32(ret)) != 1) revert TokenCallFailed(token_);
    }
}
