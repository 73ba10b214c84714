// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title KCStablecoin (EVM twin): "KC Dollar", KCUSD, 6 decimals, minted by its owner.
/// @dev Twin of the Stylus program ../wasm_dapps/stablecoin/lib.rs: same ABI, events,
///      errors and storage layout (see ../README.md, "dApp contracts"):
///        slot 0  mapping(address => uint256) balances
///        slot 1  mapping(address => mapping(address => uint256)) allowances
///        slot 2  uint256 totalSupply
///        slot 3  address owner (set once by initialize; no constructor, as a Stylus program)
///      An allowance of type(uint256).max is never spent.
contract KCStablecoin {
    mapping(address => uint256) private balances;
    mapping(address => mapping(address => uint256)) private allowances;
    uint256 private supply;
    address private owner_;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
    error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    error ERC20InvalidReceiver(address receiver);
    error OwnableUnauthorizedAccount(address account);
    error AlreadyInitialized();
    error InvalidOwner(address owner);

    function initialize(address newOwner) external {
        if (owner_ != address(0)) revert AlreadyInitialized();
        if (newOwner == address(0)) revert InvalidOwner(address(0));
        owner_ = newOwner;
    }

    function name() external pure returns (string memory) {
        return "KC Dollar";
    }

    function symbol() external pure returns (string memory) {
        return "KCUSD";
    }

    function decimals() external pure returns (uint8) {
        return 6;
    }

    function totalSupply() external view returns (uint256) {
        return supply;
    }

    function owner() external view returns (address) {
        return owner_;
    }

    function balanceOf(address account) external view returns (uint256) {
        return balances[account];
    }

    function allowance(address holder, address spender) external view returns (uint256) {
        return allowances[holder][spender];
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowances[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowances[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert ERC20InsufficientAllowance(msg.sender, allowed, amount);
            allowances[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != owner_) revert OwnableUnauthorizedAccount(msg.sender);
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        supply += amount;
        balances[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _move(address from, address to, uint256 amount) private {
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 balance = balances[from];
        if (balance < amount) revert ERC20InsufficientBalance(from, balance, amount);
        balances[from] = balance - amount;
        balances[to] += amount;
        emit Transfer(from, to, amount);
    }
}
